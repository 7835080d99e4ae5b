// Drive the running system from Node.js through OUR .proto files (grpc-js + proto-loader):
// create a grid, land a rover, move it, read it back with min_version, watch it with
// WatchGrid; then consume the grid's integration events through a persistent subscription
// group with the official KurrentDB client and ack them.
//
// Environment (set by tests/interop/test_node_interop.py):
//   ROVER_INTEROP_COMMAND / ROVER_INTEROP_QUERY / ROVER_INTEROP_LIVE   host:port of each service
//   ROVER_INTEROP_ESDB    event store connection string (esdb://host:port?tls=false)
//   ROVER_INTEROP_GROUP   the consumer group ensure_consumer_groups created (e.g. downstream)
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import kurrent from "@kurrent/kurrentdb-client";
import { consumeIntegrationEvents, withTimeout } from "./lib/consume.mjs";
import { connect } from "./lib/rover.mjs";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is required`);
  return value;
};

const gridId = `node-${randomUUID().slice(0, 8)}`;
let api;
let lastVersion = 0;

before(() => {
  api = connect({
    command: env("ROVER_INTEROP_COMMAND"),
    query: env("ROVER_INTEROP_QUERY"),
    live: env("ROVER_INTEROP_LIVE"),
  });
});
after(() => api.close());

test("CreateGrid, CreateRover, MoveRoverForward, ExecuteRoverCommands", { timeout: 30_000 }, async () => {
  const created = await api.CreateGrid({
    request_id: randomUUID(),
    grid_id: gridId,
    width: 5,
    height: 5,
    topology: "TOPOLOGY_BOUNDED",
    obstacles: [{ x: 2, y: 2 }],
  });
  assert.equal(created.grid_id, gridId);
  assert.equal(created.version, "1");
  assert.equal(created.events[0].payload, "grid_created");
  assert.equal(created.events[0].grid_created.width, 5);

  const landed = await api.CreateRover({
    request_id: randomUUID(),
    grid_id: gridId,
    rover_id: "r1",
    position: { x: 0, y: 0 },
    facing: "DIRECTION_NORTH",
  });
  assert.equal(landed.version, "2");
  assert.deepEqual(landed.rover, { rover_id: "r1", position: { x: 0, y: 0 }, facing: "DIRECTION_NORTH" });

  const moved = await api.MoveRoverForward({ request_id: randomUUID(), grid_id: gridId, rover_id: "r1" });
  assert.equal(moved.version, "3");
  assert.deepEqual(moved.rover.position, { x: 0, y: 1 });
  assert.equal(moved.events[0].payload, "rover_moved_forward");

  // R F F: turn east, then two moves; (2, 1) is free, so nothing blocks.
  const executed = await api.ExecuteRoverCommands({
    request_id: randomUUID(),
    grid_id: gridId,
    rover_id: "r1",
    commands: "RFF",
  });
  assert.equal(executed.version, "6");
  assert.deepEqual(executed.events.map((e) => e.payload), [
    "rover_turned_right",
    "rover_moved_forward",
    "rover_moved_forward",
  ]);
  assert.deepEqual(executed.rover, { rover_id: "r1", position: { x: 2, y: 1 }, facing: "DIRECTION_EAST" });
  assert.equal(executed.block, null);
  lastVersion = Number(executed.version);
});

test("GetGridDetails with min_version reads our writes", { timeout: 30_000 }, async () => {
  const details = await api.GetGridDetails({ grid_id: gridId, min_version: String(lastVersion) });
  assert.equal(details.grid_id, gridId);
  assert.equal(Number(details.version), lastVersion);
  assert.equal(details.topology, "TOPOLOGY_BOUNDED");
  assert.deepEqual(details.obstacles, [{ x: 2, y: 2 }]);
  assert.deepEqual(details.rovers, [{ rover_id: "r1", position: { x: 2, y: 1 }, facing: "DIRECTION_EAST" }]);
});

test("WatchGrid streams a snapshot, then each new event", { timeout: 30_000 }, async () => {
  const stream = api.WatchGrid({ grid_id: gridId });
  const updates = [];
  let turned = null; // the command's own reply: it may come after the watcher saw its event
  const received = new Promise((resolve, reject) => {
    stream.on("data", (update) => {
      if (update.update === "heartbeat") return;
      updates.push(update);
      if (updates.length === 1) {
        // The snapshot is in: make a change the watcher must see.
        turned = api
          .TurnRoverLeft({ request_id: randomUUID(), grid_id: gridId, rover_id: "r1" })
          .then((result) => {
            lastVersion = Number(result.version);
          });
        turned.catch(reject);
      }
      if (updates.length === 2) resolve();
    });
    stream.on("error", (error) => {
      if (error.code !== 1) reject(error); // 1 = CANCELLED, our own cancel below
    });
  });
  const expectedSequence = lastVersion;
  try {
    await withTimeout(received, 20_000, "WatchGrid updates");
  } catch (error) {
    error.message += `; received: ${JSON.stringify(updates)}`;
    throw error;
  } finally {
    stream.cancel();
  }
  await withTimeout(turned, 20_000, "TurnRoverLeft reply");
  const [snapshot, change] = updates;
  assert.equal(snapshot.update, "snapshot");
  assert.equal(Number(snapshot.sequence), expectedSequence);
  assert.equal(snapshot.snapshot.rovers[0].facing, "DIRECTION_EAST");
  assert.equal(change.update, "event");
  assert.equal(Number(change.sequence), expectedSequence + 1);
  assert.equal(change.event.event.payload, "rover_turned_left");
  assert.equal(change.event.event.sequence, String(expectedSequence + 1));
  assert.deepEqual(change.event.rover, { rover_id: "r1", position: { x: 2, y: 1 }, facing: "DIRECTION_NORTH" });
});

test("the KurrentDB client consumes the grid's integration events and acks them", { timeout: 60_000 }, async () => {
  const uri = env("ROVER_INTEROP_ESDB").replace(/^esdb:/, "kurrentdb:");
  const group = env("ROVER_INTEROP_GROUP");
  const client = kurrent.KurrentDBClient.connectionString(uri);
  try {
    const { byGrid } = await withTimeout(
      consumeIntegrationEvents(kurrent, client, group, { [gridId]: lastVersion }),
      45_000,
      `consume group ${group}`,
    );
    const events = byGrid.get(gridId);
    assert.deepEqual(
      events.map((e) => [Number(e.sequence), e.payload]),
      [
        [1, "gridCreated"],
        [2, "roverCreated"],
        [3, "roverMovedForward"],
        [4, "roverTurnedRight"],
        [5, "roverMovedForward"],
        [6, "roverMovedForward"],
        [7, "roverTurnedLeft"],
      ],
    );
    // EventStoreDB's correlation conventions, readable by any client: the command's request
    // id as $correlationId, the domain event that caused it as $causationId.
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const e of events) {
      assert.equal(typeof e.metadata, "object", "integration metadata is JSON");
      assert.match(e.metadata.$correlationId, uuid, "our commands send UUID request ids");
      assert.match(e.metadata.$causationId, uuid);
      assert.notEqual(e.metadata.$causationId, e.eventId, "caused by the domain event");
    }
  } finally {
    await client.dispose();
  }
});
