/**
 * RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a quoted field may hold
 * commas, newlines and doubled quotes. The Davidson tweets need all three. A quote inside an
 * unquoted field is kept as text, as most writers produce it that way.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let i = 0
  const n = text.length
  let fieldStarted = false
  while (i < n) {
    const c = text[i]!
    if (c === '"' && !fieldStarted) {
      // Quoted field: up to the closing quote; "" is one quote.
      i++
      for (;;) {
        if (i >= n) throw new Error('CSV: unterminated quoted field')
        const q = text[i]!
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        field += q
        i++
      }
      fieldStarted = true
      continue
    }
    if (c === ',') {
      row.push(field)
      field = ''
      fieldStarted = false
      i++
      continue
    }
    if (c === '\r' || c === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      fieldStarted = false
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1
      continue
    }
    field += c
    fieldStarted = true
    i++
  }
  if (fieldStarted || row.length > 0) {
    row.push(field)
    rows.push(row)
  }
  return rows
}
