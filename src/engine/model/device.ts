// Tensors that live on an execution provider's device: WebGPU `gpu-buffer` outputs (the KV cache),
// which are fed back as the next run's past and never copied to the host. Each must be disposed
// when dropped or device memory leaks, so every run on a device session goes through `runOn`, which
// counts what it creates; `release` disposes and uncounts. The counts are what the disposal test
// and the bench read (live tensors, bytes copied device -> host).
import * as ort from 'onnxruntime-node';

let live = 0;
let readBack = 0;

/** True for a tensor that lives on the device (a `gpu-buffer` output). */
export function onDevice(t: ort.Tensor | undefined | null): boolean {
  return t != null && t.location === 'gpu-buffer';
}

/** Device tensors created by runs and not yet released (in this process). */
export function liveDeviceTensors(): number {
  return live;
}

/** A counter of bytes copied device -> host, kept by whoever runs the sessions (the engine's, per completion). */
export interface ReadBack {
  bytes: number;
}

/** Bytes copied from a device session's outputs to the host so far, in this process (logits, argmaxes, hidden states). */
export function deviceReadBackBytes(): number {
  return readBack;
}

/** Disposes a device tensor (a host tensor is left to the garbage collector). */
export function release(t: ort.Tensor | undefined | null): void {
  if (t && onDevice(t)) {
    t.dispose();
    live--;
  }
}

/**
 * `session.run` that counts the device tensors it returns and, on a device session, the bytes of
 * host outputs (what the decoder reads back), in this process and in `counter` when given.
 */
export async function runOn(session: ort.InferenceSession, device: boolean, feeds: Record<string, ort.Tensor>, fetches?: ort.InferenceSession.FetchesType, counter?: ReadBack): Promise<Record<string, ort.Tensor>> {
  faultCheck(device);
  const out = (fetches ? await session.run(feeds, fetches) : await session.run(feeds)) as Record<string, ort.Tensor>;
  if (device) {
    for (const t of Object.values(out)) {
      if (onDevice(t)) {
        live++;
      } else {
        const n = (t.data as ArrayBufferView).byteLength;
        readBack += n;
        if (counter) counter.bytes += n;
      }
    }
  }
  return out;
}

/** Downloads a device tensor into a host tensor of the same type and shape, and disposes it. */
export async function toHost(t: ort.Tensor): Promise<ort.Tensor> {
  if (!onDevice(t)) return t;
  const data = await t.getData();
  readBack += (data as ArrayBufferView).byteLength;
  const host = new ort.Tensor(t.type as 'float32', data as Float32Array, t.dims);
  release(t);
  return host;
}

// A test seam: makes the n-th device run from now on throw, as a lost device would mid-decode.
let failAfter = -1;
/** Tests only: the n-th run on a device session from now (1 = the next) throws; 0 clears it. */
export function failDeviceRunForTests(n: number): void {
  failAfter = n > 0 ? n : -1;
}
function faultCheck(device: boolean): void {
  if (!device || failAfter < 0) return;
  if (--failAfter === 0) {
    failAfter = -1;
    throw new Error('WebGPU device lost (injected by a test)');
  }
}
