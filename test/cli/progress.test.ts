import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createProgressRenderer } from '../../src/cli/progress.js';

/** A non-TTY stream that keeps what is written. */
function captureStream() {
  let text = '';
  const stream = { isTTY: false, write: (chunk: string | Uint8Array) => { text += String(chunk); return true; } };
  return { stream, text: () => text };
}

describe('createProgressRenderer', () => {
  it('shows download sizes and rates rounded, in SI units (issue 14, defect 10)', () => {
    const { stream, text } = captureStream();
    const now = mock.method(Date, 'now', () => 1_000_000);
    try {
      const render = createProgressRenderer({ stream });
      const url = 'http://127.0.0.1:1/vgg16-7.onnx';
      render({ stage: 'download', status: 'start', name: 'vgg16', url, loadedBytes: 0, totalBytes: 553_436_134 });
      now.mock.mockImplementation(() => 1_001_001);   // 1.001 s later, 1 byte: 0.999 B/s
      render({ stage: 'download', status: 'done', name: 'vgg16', url, loadedBytes: 1, totalBytes: 553_436_134 });
    } finally {
      now.mock.restore();
    }
    const line = text().split('\n').find((l) => l.includes('ETA')) ?? '';
    assert.match(line, / 1 B \/ 553 MB {2}1 B\/s {2}ETA /);
    assert.doesNotMatch(text(), /\d\.\d{4,}/, 'a number with many decimals');
  });
});
