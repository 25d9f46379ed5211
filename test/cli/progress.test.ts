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

  it('draws batch events of a long epoch as a bar with steps, running loss and ETA; the epoch line follows', () => {
    const { stream, text } = captureStream();
    const render = createProgressRenderer({ stream });
    render({ stage: 'train', status: 'batch', epoch: 2, epochs: 50, step: 1250, steps: 2500, etaSeconds: 75, loss: 0.5 });
    render({ stage: 'train', status: 'batch', epoch: 2, epochs: 50, step: 1300, steps: 2500, etaSeconds: 72, loss: 0.49 }); // within 5 s: not repeated in a log
    render({ stage: 'train', status: 'epoch', epoch: 2, epochs: 50, logs: { loss: 0.45, seconds: 150 } });
    const plain = text().replace(/\u001b\[[0-9;]*m/g, '').split('\n').filter(Boolean);
    assert.equal(plain.length, 2, plain.join('\n'));
    assert.match(plain[0]!, /^ {2}epoch 2\/50 \[#{12}\.{12}\] {2}50% 1250\/2500 batches {2}loss 0\.5000 {2}ETA \S+$/);
    assert.match(plain[1]!, /^Epoch {1,2}2\/50 - 150\.00s - loss: 0\.4500$/);
  });
});
