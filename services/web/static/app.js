// The page: grid list, forms, map, event log and connection state, wired to the services.
import { call, describe, LiveGrid, setToken, token } from "./api.js";
import { drawMap } from "./map.js";

const $ = (selector) => document.querySelector(selector);
const KEYS = { ArrowUp: "F", ArrowDown: "B", ArrowLeft: "L", ArrowRight: "R" };
const requestId = () => crypto.randomUUID();

const view = { gridId: null, grid: null, rovers: new Map(), hit: null, live: null };

function showError(where, error) {
  where.textContent = error ? describe(error) : "";
}

async function loadGrids() {
  const { ok, body } = await call("RoverQueryService", "ListGrids", { pageSize: 100 });
  showError($("#grids-error"), ok ? null : body);
  if (!ok) return;
  const rows = (body.grids || []).map((grid) => {
    const row = document.createElement("tr");
    row.dataset.grid = grid.gridId;
    if (grid.gridId === view.gridId) row.classList.add("open");
    for (const text of [grid.gridId, `${grid.width}×${grid.height}`, grid.roverCount, grid.version]) {
      const cell = document.createElement("td");
      cell.textContent = String(text);
      row.append(cell);
    }
    row.addEventListener("click", () => openGrid(grid.gridId));
    return row;
  });
  $("#grids tbody").replaceChildren(...rows);
}

function redraw() {
  drawMap($("#map"), view.grid, view.rovers, view.hit);
  const select = $("#rover-select");
  const chosen = select.value;
  select.replaceChildren(...[...view.rovers.keys()].map((id) => {
    const option = document.createElement("option");
    option.value = id;
    option.textContent = id;
    return option;
  }));
  if (view.rovers.has(chosen)) select.value = chosen;
}

function logLine(sequence, text, blocked) {
  const item = document.createElement("li");
  item.value = sequence;
  item.dataset.sequence = sequence;
  item.textContent = text;
  if (blocked) item.classList.add("blocked");
  const log = $("#log");
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

function onSnapshot(grid, sequence) {
  view.grid = grid;
  view.rovers = new Map(grid.rovers.map((rover) => [rover.roverId, rover]));
  view.hit = null;
  $("#log").replaceChildren();
  logLine(sequence, `snapshot at version ${sequence}: ${grid.rovers.length} rover(s)`, false);
  redraw();
  loadGrids();
}

// What happened, in the contract's own words: the payload's name and fields.
function onChange(change, sequence) {
  const event = change.event;
  const kind = Object.keys(event).find((key) => !["eventId", "gridId", "sequence", "occurredAt"].includes(key));
  const payload = event[kind];
  if (change.rover) view.rovers.set(change.rover.roverId, change.rover);
  const blocked = kind === "roverBlocked";
  view.hit = blocked ? payload.target : null;
  $("#block").textContent = blocked
    ? `${payload.roverId} blocked by ${payload.blockedBy}${payload.blockingRoverId ? ` (${payload.blockingRoverId})` : ""} at (${payload.target.x}, ${payload.target.y})`
    : "";
  logLine(sequence, `${kind} ${JSON.stringify(payload)}`, blocked);
  redraw();
}

function onState(state, text) {
  const badge = $("#connection");
  badge.dataset.state = state;
  badge.textContent = text;
}

function openGrid(gridId) {
  if (view.live) view.live.stop();
  view.gridId = gridId;
  $("#grid-view").hidden = false;
  $("#grid-title").textContent = gridId;
  $("#log").replaceChildren();
  $("#block").textContent = "";
  $("#map").replaceChildren();
  for (const row of document.querySelectorAll("#grids tbody tr")) {
    row.classList.toggle("open", row.dataset.grid === gridId);
  }
  history.replaceState(null, "", `#grid=${encodeURIComponent(gridId)}`);
  view.live = new LiveGrid(gridId, { onSnapshot, onChange, onState });
  view.live.run();
}

async function drive(commands) {
  const form = $("#drive");
  const roverId = form.roverId.value;
  const { ok, body } = await call("RoverCommandService", "ExecuteRoverCommands", {
    requestId: requestId(), gridId: view.gridId, roverId, commands,
  });
  showError(form.querySelector(".error"), ok ? null : body);
}

function obstacles(text) {
  return text.split(/\s+/).filter(Boolean).map((pair) => {
    const [x, y] = pair.split(",").map(Number);
    return { x, y };
  });
}

function wire() {
  $("#token").value = token();
  $("#token").addEventListener("change", (event) => setToken(event.target.value.trim()));
  $("#refresh").addEventListener("click", loadGrids);
  $("#create-grid").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const gridId = form.gridId.value;
    const { ok, body } = await call("RoverCommandService", "CreateGrid", {
      requestId: requestId(), gridId, width: Number(form.width.value), height: Number(form.height.value),
      topology: form.topology.value, obstacles: obstacles(form.obstacles.value),
    });
    showError(form.querySelector(".error"), ok ? null : body);
    if (ok) openGrid(body.gridId || gridId);
  });
  $("#land").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const { ok, body } = await call("RoverCommandService", "CreateRover", {
      requestId: requestId(), gridId: view.gridId, roverId: form.roverId.value,
      position: { x: Number(form.x.value), y: Number(form.y.value) }, facing: form.facing.value,
    });
    showError(form.querySelector(".error"), ok ? null : body);
  });
  $("#drive").addEventListener("submit", (event) => {
    event.preventDefault();
    drive(event.target.commands.value);
  });
  for (const button of document.querySelectorAll("[data-command]")) {
    button.addEventListener("click", () => drive(button.dataset.command));
  }
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName);
    if (typing || !view.gridId || !(event.key in KEYS)) return;
    event.preventDefault();
    drive(KEYS[event.key]);
  });
  loadGrids();
  const match = location.hash.match(/^#grid=(.+)$/);
  if (match) openGrid(decodeURIComponent(match[1]));
}

wire();
