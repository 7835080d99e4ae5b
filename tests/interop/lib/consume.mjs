// Consume the integration events of some grids through a persistent subscription group on $all
// with either Node client (@kurrent/kurrentdb-client or @eventstore/db-client: same API).
import assert from "node:assert/strict";
import { decodeIntegrationEvent, expectedEventType } from "./integration.mjs";

export const INTEGRATION_PREFIX = "integration-";

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Create a group on $all filtered to the integration streams, as ensure_consumer_groups does.
export async function createIntegrationGroup(lib, client, group) {
  const settings = lib.persistentSubscriptionToAllSettingsFromDefaults({
    startFrom: lib.START,
    maxRetryCount: 3,
    messageTimeout: 5000,
  });
  const filter = lib.streamNameFilter({ prefixes: [INTEGRATION_PREFIX] });
  await client.createPersistentSubscriptionToAll(group, settings, { filter });
}

// Read the group until every expected grid has sequences 1..count, acking everything (events
// of other grids too, they are someone else's test data). With `retryFirst`, the first event
// of the first grid is nacked with RETRY once and must come back with retryCount 1.
// Returns { byGrid: Map<gridId, decoded[]>, deliveries, redelivered }; each decoded event
// also holds the event's metadata as the client parsed it.
export async function consumeIntegrationEvents(lib, client, group, expected, { retryFirst } = {}) {
  const wanted = new Map(Object.entries(expected)); // gridId -> number of events
  const byGrid = new Map([...wanted.keys()].map((id) => [id, new Map()]));
  const done = () => [...wanted].every(([id, count]) => byGrid.get(id).size >= count);
  let deliveries = 0;
  let redelivered = null;
  let nacked = null;
  const subscription = client.subscribeToPersistentSubscriptionToAll(group, { bufferSize: 10 });
  try {
    for await (const resolved of subscription) {
      const event = resolved.event;
      assert.ok(event, "a persistent subscription delivers the event");
      if (!event.streamId.startsWith(INTEGRATION_PREFIX)) {
        assert.fail(`the group filter let through ${event.streamId}`);
      }
      const gridId = event.streamId.slice(INTEGRATION_PREFIX.length);
      if (!byGrid.has(gridId)) {
        await subscription.ack(resolved);
        continue;
      }
      deliveries += 1;
      assert.equal(event.isJson, false, "integration events are binary protobuf");
      assert.ok(event.data instanceof Uint8Array, "binary data arrives as bytes");
      const decoded = decodeIntegrationEvent(event.data);
      assert.equal(decoded.eventId, event.id, "the ESDB event id is the IntegrationEvent id");
      assert.equal(decoded.gridId, gridId);
      assert.equal(BigInt(decoded.sequence), event.revision + 1n, "revision n holds sequence n+1");
      assert.equal(event.type, expectedEventType(decoded));
      if (retryFirst && nacked === null && Number(decoded.sequence) === 1) {
        nacked = decoded.eventId;
        await subscription.nack(lib.RETRY, "interop test: retry once", resolved);
        continue;
      }
      if (decoded.eventId === nacked && redelivered === null) {
        redelivered = resolved.retryCount;
      }
      // The client parses JSON metadata: $correlationId, $causationId (and $traceId/$spanId).
      byGrid.get(gridId).set(decoded.eventId, { ...decoded, metadata: event.metadata }); // dedupe by event_id
      await subscription.ack(resolved);
      if (done()) break;
    }
  } finally {
    await subscription.unsubscribe();
  }
  const result = new Map();
  for (const [id, events] of byGrid) {
    result.set(
      id,
      [...events.values()].sort((a, b) => Number(a.sequence) - Number(b.sequence)),
    );
  }
  return { byGrid: result, deliveries, redelivered };
}

// Read the integration stream of a grid (forwards) and decode it.
export async function readIntegrationStream(lib, client, gridId) {
  const decoded = [];
  for await (const resolved of client.readStream(`${INTEGRATION_PREFIX}${gridId}`, {
    direction: lib.FORWARDS,
    fromRevision: lib.START,
  })) {
    decoded.push({ type: resolved.event.type, revision: resolved.event.revision, ...decodeIntegrationEvent(resolved.event.data) });
  }
  return decoded;
}
