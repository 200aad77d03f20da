import t from 'tap'
import { ClassifierWindows } from '../../../src/core/moderation/classifier-windows.js'
import { ViewBuffer } from '../../../src/core/moderation/view-buffer.js'

t.test('windows close at a sentence end, at maxChars, and at the end of the text', async (t) => {
  const view = new ViewBuffer()
  const w = new ClassifierWindows(10)
  const closed: Array<readonly [number, number]> = []
  view.append('hi there. abcdefghijklmnop', 0, 1)
  w.advance(view, false, closed)
  t.same(closed, [[0, 9], [9, 19]], 'a sentence end, then a window cut at 10 code units')
  t.equal(w.openFrom(), 19, 'the rest is still open')
  closed.length = 0
  view.append('  ', 1, 2)
  w.advance(view, true, closed)
  t.same(closed, [[19, 28]], 'the end closes the last window')
  closed.length = 0
  const blank = new ViewBuffer()
  blank.append('   \n  ', 0, 1)
  new ClassifierWindows(10).advance(blank, true, closed)
  t.same(closed, [], 'windows of only whitespace are not scored')
})
