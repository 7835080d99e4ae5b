// Node.js clients against our event store: read the integration streams and consume them
// through persistent subscription groups on $all, with the official KurrentDB client and the
// pure grpc-js EventStoreDB client.
//
// Environment (set by tests/interop/test_node_interop.py):
//   ROVER_INTEROP_ESDB    connection string, e.g. esdb://127.0.0.1:2113?tls=false
//   ROVER_INTEROP_EXPECT  JSON {"<grid id>": <number of integration events>, ...}
//   ROVER_INTEROP_GROUP   a group created by ensure_consumer_groups (optional)
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";
import eventstore from "@eventstore/db-client";
import kurrent from "@kurrent/kurrentdb-client";
import {
  consumeIntegrationEvents,
  createIntegrationGroup,
  readIntegrationStream,
  withTimeout,
} from "./lib/consume.mjs";

const uri = process.env.ROVER_INTEROP_ESDB;
const expected = JSON.parse(process.env.ROVER_INTEROP_EXPECT ?? "{}");
const configuredGroup = process.env.ROVER_INTEROP_GROUP;
assert.ok(uri, "ROVER_INTEROP_ESDB is required");
assert.ok(Object.keys(expected).length > 0, "ROVER_INTEROP_EXPECT names no grid");

function checkHistory(gridId, events) {
  assert.equal(events.length, expected[gridId], `integration events of ${gridId}`);
  events.forEach((event, index) => {
    assert.equal(Number(event.sequence), index + 1, "sequences are 1..N without gaps");
    assert.equal(event.gridId, gridId);
  });
  assert.equal(events[0].payload, "gridCreated", "every grid starts with GridCreated");
}

const clients = [
  { name: "@kurrent/kurrentdb-client", lib: kurrent, make: (s) => kurrent.KurrentDBClient.connectionString(s.replace(/^esdb:/, "kurrentdb:")) },
  { name: "@eventstore/db-client", lib: eventstore, make: (s) => eventstore.EventStoreDBClient.connectionString(s) },
];

for (const { name, lib, make } of clients) {
  describe(name, () => {
    const client = make(uri);
    after(() => client.dispose());

    test("reads an integration stream and decodes IntegrationEvent", { timeout: 30_000 }, async () => {
      for (const gridId of Object.keys(expected)) {
        const events = await withTimeout(readIntegrationStream(lib, client, gridId), 20_000, "readStream");
        checkHistory(gridId, events);
        events.forEach((event, index) => assert.equal(event.revision, BigInt(index)));
      }
    });

    test("creates a filtered $all group, consumes, retries a nack, acks", { timeout: 60_000 }, async () => {
      const group = `node-${name.replace(/[^a-z]/g, "")}-${randomUUID()}`;
      await createIntegrationGroup(lib, client, group);
      try {
        const info = await client.getPersistentSubscriptionToAllInfo(group);
        assert.equal(info.groupName, group);
        const result = await withTimeout(
          consumeIntegrationEvents(lib, client, group, expected, { retryFirst: true }),
          45_000,
          `consume ${group}`,
        );
        for (const [gridId, events] of result.byGrid) checkHistory(gridId, events);
        assert.equal(result.redelivered, 1, "a nacked (retry) event comes back with retryCount 1");
      } finally {
        await client.deletePersistentSubscriptionToAll(group);
      }
    });
  });
}

test("the configured consumer group delivers the integration events (KurrentDB client)", { timeout: 60_000, skip: !configuredGroup && "no ROVER_INTEROP_GROUP" }, async () => {
  const client = kurrent.KurrentDBClient.connectionString(uri.replace(/^esdb:/, "kurrentdb:"));
  try {
    const result = await withTimeout(
      consumeIntegrationEvents(kurrent, client, configuredGroup, expected),
      45_000,
      `consume ${configuredGroup}`,
    );
    for (const [gridId, events] of result.byGrid) checkHistory(gridId, events);
  } finally {
    await client.dispose();
  }
});
