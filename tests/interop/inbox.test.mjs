// The command inbox from Node.js: the official KurrentDB client appends rover.v1 requests
// (binary protobuf encoded with protobufjs from OUR .proto files) to rover-inbox-{grid}
// streams and reads the answers (rover.v1.CommandResult, or google.rpc.Status) from the
// reply stream it named. The command service instances run by pytest apply them.
//
// Environment (set by tests/interop/test_node_interop.py):
//   ROVER_INTEROP_ESDB    event store connection string (esdb://host:port?tls=false)
//   ROVER_INTEROP_INBOX   JSON {"grids": ["<grid id>", ...], "steps": <moves per grid>}
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, test } from "node:test";
import kurrent from "@kurrent/kurrentdb-client";
import { withTimeout } from "./lib/consume.mjs";
import { loadRoot } from "./lib/integration.mjs";

const uri = process.env.ROVER_INTEROP_ESDB;
const plan = JSON.parse(process.env.ROVER_INTEROP_INBOX ?? "{}");
assert.ok(uri, "ROVER_INTEROP_ESDB is required");
assert.ok(plan.grids?.length > 0, "ROVER_INTEROP_INBOX names no grid");

const client = kurrent.KurrentDBClient.connectionString(uri.replace(/^esdb:/, "kurrentdb:"));
after(() => client.dispose());
const root = loadRoot();
const STEPS = ["TurnRoverRightRequest", "MoveRoverForwardRequest", "TurnRoverLeftRequest", "MoveRoverBackwardRequest"];

// One command as any client would append it: type = the request's full name, data = its bytes
// (protobufjs names fields in lowerCamelCase).
function command(name, fields, replyStream) {
  const type = root.lookupType(`rover.v1.${name}`);
  const data = type.encode(type.fromObject({ requestId: randomUUID(), ...fields })).finish();
  return kurrent.binaryEvent({ type: `rover.v1.${name}`, data, metadata: { reply_stream: replyStream } });
}

async function replies(stream, count) {
  for (;;) {
    const found = [];
    try {
      for await (const resolved of client.readStream(stream)) found.push(resolved.event);
    } catch (error) {
      if (!(error instanceof kurrent.StreamNotFoundError)) throw error;
    }
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("commands appended by the KurrentDB client are applied in order and answered", { timeout: 200_000 }, async () => {
  const CommandResult = root.lookupType("rover.v1.CommandResult");
  await Promise.all(
    plan.grids.map(async (gridId) => {
      const answers = `node-answers-${gridId}`;
      const events = [
        command("CreateGridRequest", { gridId, width: 8, height: 8, topology: 2 }, answers),
        command("CreateRoverRequest", { gridId, roverId: "r1", position: { x: 0, y: 0 }, facing: 1 }, answers),
        ...Array.from({ length: plan.steps }, (_, i) =>
          command(STEPS[i % STEPS.length], { gridId, roverId: "r1" }, answers),
        ),
        kurrent.binaryEvent({ type: "rover.v1.SelfDestructRequest", data: Uint8Array.of(1), metadata: { reply_stream: answers } }),
      ];
      for (const event of events) await client.appendToStream(`rover-inbox-${gridId}`, event);
      const found = await withTimeout(replies(answers, events.length), 180_000, `replies of ${gridId}`);
      const results = found.slice(0, -1).map((event) => {
        assert.equal(event.type, "rover.v1.CommandResult");
        return CommandResult.toObject(CommandResult.decode(event.data), { longs: Number });
      });
      // The k-th command of the inbox stream was the k-th change of the grid.
      assert.deepEqual(results.map((result) => result.version), results.map((_, k) => k + 1));
      assert.equal(results[1].rover.roverId, "r1");
      assert.equal(found.at(-1).type, "google.rpc.Status"); // the unknown command: answered
    }),
  );
});
