// @ts-check
/**
 * "Follow the notes": the 13 steps in the notes' order (docs: /work/shared/DESIGN.md numbers them),
 * each with the app's view that shows it (data-testid="idea-N") and the one-click set-up it needs.
 * Pure module (no DOM): node --test checks it. The words are in the catalogues: notes.step.<n>.title,
 * .text, .check and (where the notes give one) .formula.
 */

/**
 * What a step's one click sets up, never touching a run anyone watches:
 *   pad           a test digit on the drawing pad (the page's default network reads it)
 *   cnn-pad       the same, read by the bundled cnn (its conv layers and feature maps)
 *   notes         the Learn view on the notes' bundled 784-16-16-10 sigmoid network and a test digit
 *   step          the same, and one gradient-descent step by hand (on a scratch copy)
 *   batch         the same, and a mini-batch of 8 test digits
 *   conv          the Learn view's convolution cards on a test digit (the bundled cnn's conv layers)
 *   conv-example  the notes' 34-parameter example (4 channels, two 2×2 kernels) built in the
 *                 architecture editor (no run started), and the convolution cards
 * @typedef {"pad"|"cnn-pad"|"notes"|"step"|"batch"|"conv"|"conv-example"} Setup
 * @typedef {{n: number, view: string, setup: Setup, formula: boolean}} Step
 */

/** @type {Step[]} */
export const STEPS = [
  { n: 1, view: "idea-1", setup: "pad", formula: true },
  { n: 2, view: "idea-2", setup: "notes", formula: true },
  { n: 3, view: "idea-3", setup: "notes", formula: true },
  { n: 4, view: "idea-4", setup: "notes", formula: true },
  { n: 5, view: "idea-5", setup: "step", formula: true },
  { n: 6, view: "idea-6", setup: "notes", formula: false },
  { n: 7, view: "idea-7", setup: "batch", formula: false },
  { n: 8, view: "idea-8", setup: "cnn-pad", formula: false },
  { n: 9, view: "idea-9", setup: "conv-example", formula: true },
  { n: 10, view: "idea-10", setup: "conv", formula: true },
  { n: 11, view: "idea-11", setup: "conv", formula: true },
  { n: 12, view: "idea-12", setup: "conv", formula: true },
  { n: 13, view: "idea-13", setup: "conv", formula: false },
];

/** The test digit the set-ups put on the pad and explain. */
export const NOTES_DIGIT = 0;

/**
 * The notes' example layer: 4 input channels, two 2×2 kernels, 4·(2·2)·2 + 2 = 34 parameters,
 * as a network the editor can hold (its layer 2).
 */
export const EXAMPLE_SPEC = {
  input_shape: [1, 28, 28],
  layers: [
    { type: "conv2d", filters: 4, kernel: 3 },
    { type: "relu" },
    { type: "conv2d", filters: 2, kernel: 2 },
    { type: "relu" },
    { type: "flatten" },
    { type: "dense", units: 10 },
  ],
};
export const EXAMPLE_LAYER = 2;

/** The deep link of step n. @param {number} n */
export const notesHash = (n) => `#/notes/${n}`;

/**
 * The step a location hash asks for: "#/notes/7" → 7, "#/notes" → 1; anything else (a section
 * link such as "#draw", a step out of range) → null.
 * @param {string} hash
 * @returns {number|null}
 */
export function parseNotesHash(hash) {
  const m = /^#\/notes(?:\/(\d+))?\/?$/.exec(hash);
  if (!m) return null;
  const n = m[1] === undefined ? 1 : Number(m[1]);
  return n >= 1 && n <= STEPS.length ? n : null;
}
