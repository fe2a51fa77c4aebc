// Colours of a tooth segmentation: gingiva pink, each FDI tooth its own colour.
//
// Neighbouring teeth must differ at a glance, and a tooth must keep its colour from one scan
// to the next (the designer learns them): the colour depends on the tooth's position in its
// quadrant (1 central incisor ... 8 third molar), alternating warm and cool, lighter in
// quadrants 2 and 3 than in 1 and 4 so that the two central incisors differ too.

export const GINGIVA = [0.86, 0.6, 0.62];

// One hue per position 1..8, ordered so that adjacent positions are far apart on the wheel.
const HUES = [210, 35, 150, 280, 95, 0, 185, 320];

function hslToRgb(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)];
}

/** sRGB 0-1 components of a label's colour: 0 (gingiva) or an FDI number. */
export function toothColor(label) {
  if (!label) return GINGIVA;
  const quadrant = Math.floor(label / 10);
  const position = label % 10;
  const hue = HUES[(position - 1 + 8) % 8];
  const light = quadrant === 2 || quadrant === 3 ? 0.68 : 0.52;
  return hslToRgb(hue, 0.6, light);
}

/** Vertex colours (linear RGB) for one label per vertex. */
export function labelColors(labels, toLinear) {
  const table = new Map();
  const colors = new Float32Array(labels.length * 3);
  for (let i = 0; i < labels.length; i += 1) {
    let rgb = table.get(labels[i]);
    if (!rgb) {
      rgb = toothColor(labels[i]).map(toLinear);
      table.set(labels[i], rgb);
    }
    colors[i * 3] = rgb[0];
    colors[i * 3 + 1] = rgb[1];
    colors[i * 3 + 2] = rgb[2];
  }
  return colors;
}

/** The FDI numbers present among the labels, in FDI order. */
export function teethPresent(labels) {
  const seen = new Set();
  for (let i = 0; i < labels.length; i += 1) if (labels[i]) seen.add(labels[i]);
  return [...seen].sort((a, b) => a - b);
}
