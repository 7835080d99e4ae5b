// Drawing a grid as the services describe it: obstacles, rovers (id and facing), a block.
// Only drawing lives here; where a rover is and what blocked it comes from the services.

const SVG = "http://www.w3.org/2000/svg";
// How each heading's arrow is turned on screen (North up).
const ARROW_TURN = { DIRECTION_NORTH: 0, DIRECTION_EAST: 90, DIRECTION_SOUTH: 180, DIRECTION_WEST: 270 };

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// The words for a heading: the contract's enum name without its prefix ("north").
export function headingName(facing) {
  return String(facing).replace(/^DIRECTION_/, "").toLowerCase();
}

export function drawMap(svg, grid, rovers, hit) {
  const { width, height } = grid;
  const row = (y) => height - 1 - y; // y grows North; the screen's rows grow down
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.dataset.width = width;
  svg.dataset.height = height;
  svg.dataset.topology = grid.topology;
  if (width * height <= 10000) {
    for (let x = 0; x < width; x += 1) {
      for (let y = 0; y < height; y += 1) {
        svg.append(element("rect", { class: "cell", x, y: row(y), width: 1, height: 1 }));
      }
    }
  }
  for (const { x, y } of grid.obstacles) {
    svg.append(element("rect", { class: "obstacle", x: x + 0.1, y: row(y) + 0.1, width: 0.8, height: 0.8, "data-x": x, "data-y": y }));
  }
  if (hit && hit.x >= 0 && hit.y >= 0 && hit.x < width && hit.y < height) {
    svg.append(element("rect", { class: "hit", x: hit.x, y: row(hit.y), width: 1, height: 1 }));
  }
  for (const rover of rovers.values()) {
    const { x, y } = rover.position;
    const group = element("g", {
      class: "rover",
      transform: `translate(${x + 0.5} ${row(y) + 0.5})`,
      "data-rover": rover.roverId,
      "data-x": x,
      "data-y": y,
      "data-facing": rover.facing,
    });
    group.append(element("title", {}, `${rover.roverId} at (${x}, ${y}) facing ${headingName(rover.facing)}`));
    group.append(element("circle", { r: 0.36 }));
    group.append(element("path", { d: "M0,-0.3 L0.18,0.12 L-0.18,0.12 Z", transform: `rotate(${ARROW_TURN[rover.facing] ?? 0})` }));
    group.append(element("text", { x: -0.45, y: -0.4 }, `${rover.roverId} ${headingName(rover.facing)}`));
    svg.append(group);
  }
}
