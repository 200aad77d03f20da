import { LETTER, props } from './code-points.js'

/**
 * How the contextual stages see a code point of the context-free fold (fold-char.ts).
 *
 * Leetspeak table: 0→o 1→i 3→e 4→a 5→s 7→t 8→b @→a $→s |→l !→i +→t. 2, 6 and 9 are left
 * alone: "2" reads as "to" as often as "z", and "9" as a digit far more often than as "g".
 */

/**
 * Separates spaced-out letters: whitespace (already ' ') and . - _ * · , / | ~ — ―, so also
 * what folds to one of them (– → -, • → ·, … → ...).
 */
export const SEP = 1
/** The space that whitespace folded to. */
export const WS = 2
/** Can be a spaced-out letter: a letter or a leet character other than ! + | */
export const JOIN = 4
/** \p{L}: anchors leetspeak. */
export const ALPHA = 8
/** A leet character that reads as a letter next to letters. */
export const LEET = 16
/** ! and +: leet only when isolated and followed by a letter or leet character. */
export const BANG = 32
/** Punctuation that bounds a word without separating letters: ! ? ; : " ( ) [ ] { } < > */
export const BOUND = 64

/** Class flags of ASCII folded characters (what foldClass returns for them). */
export const ASCII_CLASS = new Uint8Array(128)
/** ASCII leet character → the letter it stands for (0 when it is not one). */
export const LEET_LETTER = new Uint8Array(128)

for (let c = 0x61; c <= 0x7a; c++) ASCII_CLASS[c] = ALPHA | JOIN
ASCII_CLASS[0x20] = SEP | WS
for (const ch of '.-_*,/|~') ASCII_CLASS[ch.charCodeAt(0)] = SEP
for (const ch of '!?;:"()[]{}<>') ASCII_CLASS[ch.charCodeAt(0)] = BOUND
for (const [from, to] of ['0o', '1i', '3e', '4a', '5s', '7t', '8b', '@a', '$s', '|l', '!i', '+t']) {
  const c = from!.charCodeAt(0)
  LEET_LETTER[c] = to!.charCodeAt(0)
  ASCII_CLASS[c] = ASCII_CLASS[c]! | (c === 0x21 || c === 0x2b ? BANG : c === 0x7c ? LEET : LEET | JOIN)
}

const MIDDLE_DOT = 0xb7
const EM_DASH = 0x2014
const HORIZONTAL_BAR = 0x2015

/** Class flags of a folded code point (SEP | WS | JOIN | ALPHA | LEET | BANG | BOUND). */
export function foldClass(cp: number): number {
  if (cp < 0x80) return ASCII_CLASS[cp]!
  if (cp === MIDDLE_DOT || cp === EM_DASH || cp === HORIZONTAL_BAR) return SEP
  return (props(cp) & LETTER) !== 0 ? ALPHA | JOIN : 0
}
