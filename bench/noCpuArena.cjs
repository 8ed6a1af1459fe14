// Preloaded into the engine process by `npm run bench:provider -- --no-cpu-arena` (NODE_OPTIONS=--require):
// every ONNX Runtime session is created with its CPU memory arena off, to see whether the arena's
// high-water mark is what grows the engine process's RSS over a soak.
'use strict';
const ort = require('onnxruntime-node');
const create = ort.InferenceSession.create.bind(ort.InferenceSession);
ort.InferenceSession.create = (file, options = {}) => create(file, { ...options, enableCpuMemArena: false });
