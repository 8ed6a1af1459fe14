// hasten.executionProvider auto: WebGPU on a hardware GPU with a Vulkan driver, else cpu, with the
// reason; fake sysfs trees stand in for machines. And the ONNX output-name reader that WebGPU sessions
// need before they exist, against onnxruntime's own list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { chooseProvider, type ProbeEnv } from '../../src/engine/model/adapter';
import { onnxOutputNames } from '../../src/engine/model/outputNames';
import { isKvOutput } from '../../src/engine/model/session';

/** A fake machine: PCI devices (id -> [class, vendor]) and Vulkan ICD files. */
function machine(pci: Record<string, [string, string]>, icds: string[]): ProbeEnv {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-sys-'));
  for (const [id, [cls, vendor]] of Object.entries(pci)) {
    const d = path.join(root, 'sys/bus/pci/devices', id);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'class'), `${cls}\n`);
    fs.writeFileSync(path.join(d, 'vendor'), `${vendor}\n`);
    fs.writeFileSync(path.join(d, 'device'), '0x2335\n');
  }
  const icd = path.join(root, 'icd.d');
  fs.mkdirSync(icd);
  for (const f of icds) fs.writeFileSync(path.join(icd, f), '{}');
  return { platform: 'linux', sys: path.join(root, 'sys'), icdDirs: [icd], webgpuBuilt: true };
}

const MESA = ['lvp_icd.json', 'radeon_icd.json', 'intel_icd.json', 'virtio_icd.json'];
const HOST_BRIDGE: [string, string] = ['0x060000', '0x1022'];

test('auto: only a software Vulkan (lavapipe) and no GPU on the bus -> cpu, saying so', () => {
  const c = chooseProvider(machine({ '0000:00:00.0': HOST_BRIDGE }, MESA));
  assert.equal(c.provider, 'cpu');
  assert.match(c.reason, /no hardware GPU found.*software Vulkan adapter, lavapipe/);
});

test('auto: a BMC or virtual VGA (ASPEED, QEMU) is no GPU -> cpu', () => {
  assert.equal(chooseProvider(machine({ '0000:02:00.0': ['0x030000', '0x1a03'], '0000:00:02.0': ['0x030000', '0x1234'] }, MESA)).provider, 'cpu');
});

test('auto: an NVIDIA GPU with its Vulkan driver -> webgpu, naming the GPU', () => {
  const c = chooseProvider(machine({ '0000:00:00.0': HOST_BRIDGE, '0000:17:00.0': ['0x030200', '0x10de'] }, ['nvidia_icd.json', ...MESA]));
  assert.equal(c.provider, 'webgpu');
  assert.match(c.reason, /^NVIDIA GPU 0x2335 at PCI 0000:17:00\.0 with its Vulkan driver \(nvidia_icd\.json\)$/);
  assert.equal(c.adapter, 'NVIDIA GPU 0x2335 at PCI 0000:17:00.0');
});

test('auto: an NVIDIA GPU without a Vulkan driver for it -> cpu, naming what to install', () => {
  const c = chooseProvider(machine({ '0000:17:00.0': ['0x030200', '0x10de'] }, MESA));
  assert.equal(c.provider, 'cpu');
  assert.match(c.reason, /NVIDIA GPU .* found but no Vulkan driver for it \(only .*lvp_icd\.json.*\): install the vendor's Vulkan driver and libvulkan1/);
});

test('auto: an AMD or Intel GPU with Mesa\'s drivers -> webgpu; VK_DRIVER_FILES limits the drivers considered', () => {
  assert.equal(chooseProvider(machine({ '0000:03:00.0': ['0x030000', '0x1002'] }, MESA)).provider, 'webgpu');
  assert.equal(chooseProvider(machine({ '0000:00:02.0': ['0x030000', '0x8086'] }, MESA)).provider, 'webgpu');
  const onlyLavapipe = { ...machine({ '0000:03:00.0': ['0x030000', '0x1002'] }, MESA), driverFiles: '/usr/share/vulkan/icd.d/lvp_icd.json' };
  assert.equal(chooseProvider(onlyLavapipe).provider, 'cpu');
});

test('auto: no WebGPU in the onnxruntime-node build -> cpu; macOS and Windows -> webgpu', () => {
  const m = machine({ '0000:03:00.0': ['0x030000', '0x1002'] }, MESA);
  assert.match(chooseProvider({ ...m, webgpuBuilt: false }).reason, /no WebGPU provider/);
  assert.equal(chooseProvider({ ...m, platform: 'darwin' }).provider, 'webgpu');
  assert.equal(chooseProvider({ ...m, platform: 'win32' }).provider, 'webgpu');
});

test('ONNX output names read from the file equal onnxruntime\'s, for every bundled graph kind; K/V outputs recognised', async () => {
  const onnx = path.resolve(__dirname, '..', '..', 'models', 'hasten-target', 'onnx');
  for (const f of ['model.onnx', 'model_fast.onnx', 'model_fast_cpu.onnx', 'model_fast_tree.onnx', 'layered_block_0.onnx', 'layered_head.onnx', 'layered_kv_propagate.onnx']) {
    const s = await ort.InferenceSession.create(path.join(onnx, f));
    assert.deepEqual(new Set(onnxOutputNames(path.join(onnx, f))), new Set(s.outputNames), f);
    await s.release();
  }
  assert.deepEqual(onnxOutputNames(path.join(onnx, 'layered_block_0.onnx')).filter(isKvOutput), ['present_key', 'present_value']);
  // Since builder 3 the fast graph also outputs each row's argmax (what greedy decoding reads back on a device).
  assert.deepEqual(onnxOutputNames(path.join(onnx, 'model_fast.onnx')).filter((n) => !isKvOutput(n)), ['argmax', 'logits']);
  assert.deepEqual(onnxOutputNames(path.join(onnx, 'layered_kv_propagate.onnx')).filter(isKvOutput), []);
});
