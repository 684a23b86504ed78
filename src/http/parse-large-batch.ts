/**
 * JSON.parse of a large batch body from its bytes, without one string of the whole body.
 *
 * V8 keeps a string of more than 128 KB in its large-object space, in pages of its own that the
 * kernel maps (and zeroes) afresh for each: on the 2-core VM the benchmark runs on, decoding a
 * 1,000-event body (~135 KB) cost ~600 µs, ten times a 120 KB one, about half of decoding and
 * parsing it (issue 18, measured: 35 page faults per body). A body of the shape
 * `{"<plural>":[<item>,<item>,…]}`, with nothing between the items but `,`, is parsed instead in
 * pieces of about PIECE bytes, each a run of whole items: `[<item>,…,<item>]`.
 *
 * The pieces are cut only after a `}` followed by `,` and the opening of the first item
 * (`{"id":`) — between two object items of the array, when the cut is outside any string and at
 * the array's own depth. A cut anywhere else leaves a piece that is not JSON (a string left open,
 * or a bracket not closed), so every piece parsing means every cut fell between two items, and the
 * pieces' items are the array's; a piece that does not parse is tried again up to the next cut, a
 * few times. Anything else — another shape, whitespace, a BOM, no piece that parses — returns
 * undefined, and the caller parses the whole text as before (its errors are worded by that one
 * JSON.parse).
 */
const PIECE = 64 * 1024;
/** Below this a body is one regular string (a piece of up to PIECE plus one item stays below it too, mostly). */
export const LARGE_BODY_BYTES = 120 * 1024;
/** `{"<plural>":[` — a plural of lowercase letters (never `__proto__`). */
const HEAD = /^\{"([a-z]{1,32})":\[$/;
/** How an item opens: `{"<key>":` (the first item's first key; every item of a batch usually opens alike). */
const ITEM_OPEN = /^\{"[A-Za-z_]{1,32}":$/;
/** Cuts tried for a piece before the whole body is left to JSON.parse. */
const TRIES = 4;

export function parseLargeBatch(body: Uint8Array): { readonly value: unknown } | undefined {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const n = bytes.byteLength;
  if (n < LARGE_BODY_BYTES || bytes[n - 2] !== 0x5d || bytes[n - 1] !== 0x7d) return undefined;
  const open = bytes.indexOf(0x5b);
  if (open < 0 || open > 40) return undefined;
  const plural = HEAD.exec(bytes.toString('latin1', 0, open + 1))?.[1];
  if (plural === undefined) return undefined;
  // Cut before an item that opens like the first: `},{"id":` rather than any `},{` (objects in
  // an item's arrays, such as an order's lines, have `},{` too; a cut there does not parse).
  const colon = bytes.indexOf(0x3a, open);
  const opening = colon > open && colon - open <= 36 ? bytes.toString('latin1', open + 1, colon + 1) : '';
  if (!ITEM_OPEN.test(opening)) return undefined;
  const cut = Buffer.from(`},${opening}`);
  const end = n - 2;
  const items: unknown[] = [];
  let start = open + 1;
  while (start < end) {
    let from = start + PIECE;
    let piece: unknown[] | undefined;
    let stop = end;
    for (let t = 0; t < TRIES && piece === undefined; t++) {
      const at = end - start > PIECE ? bytes.indexOf(cut, from) : -1;
      stop = at === -1 || at >= end ? end : at + 1;
      try {
        // The body is valid UTF-8 (checked before), and a cut is at ASCII bytes, never inside a character.
        piece = JSON.parse(`[${bytes.toString('utf8', start, stop)}]`) as unknown[];
      } catch {
        if (stop === end) return undefined;
        from = stop;
      }
    }
    if (piece === undefined) return undefined;
    for (const item of piece) items.push(item);
    start = stop + 1;
  }
  if (items.length === 0) return undefined;
  return { value: { [plural]: items } };
}
