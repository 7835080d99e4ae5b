"""Hypothesis strategies from protobuf descriptors: any message, fields at adversarial values."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

__all__ = ["messages"]

_F = FieldDescriptor
_INT_RANGES = {
    _F.TYPE_INT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _F.TYPE_INT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _F.TYPE_UINT32: (0, 2**32 - 1),
    _F.TYPE_FIXED32: (0, 2**32 - 1),
    _F.TYPE_UINT64: (0, 2**64 - 1),
    _F.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [
        v for v in (0, 1, -1, 2, 10_000, 10_001, low, high, low + 1, high - 1) if low <= v <= high
    ]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _texts(names: list[str]) -> st.SearchStrategy[str]:
    """Names that exist (so some calls reach deep), edge lengths, and any text at all."""
    return st.one_of(
        st.sampled_from([*names, "", " ", "x" * 64, "x" * 65, "\x00", "F" * 1_000, "F" * 1_001]),
        st.sampled_from(["x", "\u00e9", "FX", "-"]).map(lambda part: part * 20_000),  # echoes?
        st.text(alphabet="FBLRMflrbmX-_0", max_size=20),
        st.text(max_size=40),
    )


def _scalar(field: FieldDescriptor, names: list[str], depth: int) -> st.SearchStrategy[Any]:
    if field.type == _F.TYPE_MESSAGE:
        return messages(field.message_type, names, depth + 1)
    if field.type == _F.TYPE_STRING:
        return _texts(names)
    if field.type == _F.TYPE_BYTES:
        return st.binary(max_size=40)
    if field.type == _F.TYPE_BOOL:
        return st.booleans()
    if field.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return st.floats(width=32 if field.type == _F.TYPE_FLOAT else 64)
    if field.type == _F.TYPE_ENUM:  # open enums: unknown numbers are valid on the wire
        return _integers(-(2**31), 2**31 - 1) | st.sampled_from(
            [v.number for v in field.enum_type.values]
        )
    low, high = _INT_RANGES[field.type]
    return _integers(low, high)


def _value(field: FieldDescriptor, names: list[str], depth: int) -> st.SearchStrategy[Any]:
    one = _scalar(field, names, depth)
    if field.label == _F.LABEL_REPEATED:
        return st.lists(one, max_size=4)
    return one


def messages(
    descriptor: Descriptor, names: list[str], depth: int = 0
) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``'s type; each field set or left out, strings often ``names``."""
    cls = GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields = {f.name: st.none() | _value(f, names, depth) for f in descriptor.fields}

    def build(values: dict[str, Any]) -> Message:
        message: Message = cls(**{k: v for k, v in values.items() if v is not None})
        return message

    return st.fixed_dictionaries(fields).map(build)
