/**
 * A streaming RFC 4180 reader for manifests: text arrives in chunks, records leave one by one, and memory stays
 * bounded by the limits (a cell, a record) whatever the file size. Quoted fields may hold commas, doubled quotes
 * and newlines; `\n`, `\r\n` and a lone `\r` end a record; blank lines are dropped. Cells are built from slices of
 * the chunk, never character by character.
 */

export interface CsvRecord {
  /** 1-based line where the record starts. */
  readonly line: number;
  readonly cells: string[];
}

export interface CsvLimits {
  /** Longest cell, in characters. */
  readonly maxCellChars: number;
  /** Longest record (all its cells), in characters. */
  readonly maxRecordChars: number;
}

/** Which limit a record broke, where, and whether an open quote is the likely cause. */
export class CsvLimitError extends Error {
  constructor(readonly limit: 'cell' | 'record', readonly line: number, readonly max: number, readonly inQuotes: boolean) {
    super(`${limit === 'cell' ? 'a cell' : 'a record'} longer than ${max} characters starting on line ${line}`);
  }
}

const SPECIAL = /[,"\r\n]/g;

export class CsvRecordReader {
  #cells: string[] = [];
  #cell = '';
  /** The current cell's characters so far could still be leading whitespace before an opening quote. */
  #quoted = false;
  /** A quote was the last character of the previous chunk inside a quoted field. */
  #pendingQuote = false;
  /** A `\r` ended the previous chunk: a `\n` at the start of the next one belongs to it. */
  #pendingCr = false;
  #line = 1;
  #recordLine = 1;
  #recordChars = 0;

  constructor(private readonly limits: CsvLimits, private readonly onRecord: (record: CsvRecord) => void) {}

  #append(text: string): void {
    if (text.length === 0) return;
    this.#cell += text;
    this.#recordChars += text.length;
    if (this.#cell.length > this.limits.maxCellChars) throw new CsvLimitError('cell', this.#recordLine, this.limits.maxCellChars, this.#quoted);
    if (this.#recordChars > this.limits.maxRecordChars) throw new CsvLimitError('record', this.#recordLine, this.limits.maxRecordChars, this.#quoted);
  }

  #endCell(): void {
    this.#cells.push(this.#cell);
    this.#cell = '';
  }

  #endRecord(): void {
    this.#endCell();
    const cells = this.#cells;
    this.#cells = [];
    this.#recordChars = 0;
    if (cells.length > 1 || cells[0]!.trim() !== '') this.onRecord({ line: this.#recordLine, cells });
  }

  #newline(): void {
    this.#endRecord();
    this.#line++;
    this.#recordLine = this.#line;
  }

  /** Feeds the next chunk of text. */
  push(chunk: string): void {
    let position = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (chunk.startsWith('\n')) position = 1;
    }
    if (this.#pendingQuote) {
      this.#pendingQuote = false;
      if (chunk.startsWith('"')) { this.#append('"'); position = 1; }
      else this.#quoted = false;
    }
    while (position < chunk.length) {
      if (this.#quoted) {
        const quote = chunk.indexOf('"', position);
        const end = quote === -1 ? chunk.length : quote;
        const text = chunk.slice(position, end);
        for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.#line++;
        this.#append(text);
        if (quote === -1) return;
        if (quote + 1 === chunk.length) { this.#pendingQuote = true; return; }
        if (chunk[quote + 1] === '"') { this.#append('"'); position = quote + 2; }
        else { this.#quoted = false; position = quote + 1; }
        continue;
      }
      SPECIAL.lastIndex = position;
      const match = SPECIAL.exec(chunk);
      const end = match === null ? chunk.length : match.index;
      this.#append(chunk.slice(position, end));
      if (match === null) return;
      const char = chunk[end]!;
      position = end + 1;
      if (char === '"') {
        if (this.#cell.trim() === '') { this.#recordChars -= this.#cell.length; this.#cell = ''; this.#quoted = true; }
        else this.#append('"');
      } else if (char === ',') {
        this.#endCell();
      } else {
        if (char === '\r') {
          if (position === chunk.length) this.#pendingCr = true;
          else if (chunk[position] === '\n') position++;
        }
        this.#newline();
      }
    }
  }

  /** Ends the input: the last record is emitted even without a final newline. */
  end(): void {
    if (this.#pendingQuote) { this.#pendingQuote = false; this.#quoted = false; }
    if (this.#cell !== '' || this.#cells.length > 0) this.#endRecord();
  }
}
