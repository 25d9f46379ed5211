/** The browser demo: `finetune serve <model.onnx>`. */
export { startServer, describeModel } from './start-server.js';
export type { RunningServer, ServedModelInfo, StartServerOptions } from './start-server.js';
