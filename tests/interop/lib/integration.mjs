// Decoding of stored integration events: binary protobuf rover.v1.IntegrationEvent, read with
// protobufjs from OUR .proto files (imports are rooted at the repository root).
import path from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const PROTO_FILES = ["command", "query", "live", "events", "common"].map(
  (name) => `protos/rover/v1/${name}.proto`,
);

let root;

export function loadRoot() {
  if (!root) {
    root = new protobuf.Root();
    // google/protobuf/* are bundled with protobufjs; everything else is under the repo root.
    root.resolvePath = (_origin, target) => {
      if (target.startsWith("google/protobuf/") || path.isAbsolute(target)) return target;
      return path.join(REPO_ROOT, target);
    };
    root.loadSync(PROTO_FILES.map((file) => path.join(REPO_ROOT, file)));
    root.resolveAll();
  }
  return root;
}

// The binary IntegrationEvent as a plain object in the canonical JSON mapping's shape
// (lowerCamelCase fields, enum names, int64 as strings, Timestamp as RFC 3339).
export function decodeIntegrationEvent(bytes) {
  const type = loadRoot().lookupType("rover.v1.IntegrationEvent");
  const message = type.decode(bytes);
  const object = type.toObject(message, { enums: String, longs: String, oneofs: true });
  if (message.occurredAt) {
    const seconds = Number(message.occurredAt.seconds ?? 0);
    const nanos = message.occurredAt.nanos ?? 0;
    object.occurredAt = new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString();
  }
  return object;
}

// The ESDB event type of an integration event: rover.v1.<PayloadMessageName>.
export function expectedEventType(decoded) {
  const field = decoded.payload; // e.g. "roverMovedForward"
  return `rover.v1.${field.charAt(0).toUpperCase()}${field.slice(1)}`;
}
