// The diverging blue-white-red scale of a distance colour map, clamped at +/- maxMm.
// The same seven stops (ColorBrewer RdBu, reversed so that blue is negative) draw the legend
// bar in viewer.css (.viewer-legend-bar); change both together.
export const STOPS = [
  [0x21, 0x66, 0xac],
  [0x67, 0xa9, 0xcf],
  [0xd1, 0xe5, 0xf0],
  [0xf7, 0xf7, 0xf7],
  [0xfd, 0xdb, 0xc7],
  [0xef, 0x8a, 0x62],
  [0xb2, 0x18, 0x2b],
];

/** sRGB 0-1 components of the scale's colour for a distance in mm. */
export function colorFor(distance, maxMm) {
  const span = maxMm > 0 ? maxMm : 1;
  const clamped = Math.max(-1, Math.min(1, (Number.isFinite(distance) ? distance : 0) / span));
  const position = ((clamped + 1) / 2) * (STOPS.length - 1);
  const low = Math.min(STOPS.length - 2, Math.floor(position));
  const t = position - low;
  const a = STOPS[low];
  const b = STOPS[low + 1];
  return [
    (a[0] + (b[0] - a[0]) * t) / 255,
    (a[1] + (b[1] - a[1]) * t) / 255,
    (a[2] + (b[2] - a[2]) * t) / 255,
  ];
}

/**
 * Vertex colours (linear RGB, what three.js expects in a color attribute) for one distance
 * per vertex.
 */
export function vertexColors(distances, maxMm, toLinear) {
  const colors = new Float32Array(distances.length * 3);
  for (let i = 0; i < distances.length; i += 1) {
    const [r, g, b] = colorFor(distances[i], maxMm);
    colors[i * 3] = toLinear(r);
    colors[i * 3 + 1] = toLinear(g);
    colors[i * 3 + 2] = toLinear(b);
  }
  return colors;
}
