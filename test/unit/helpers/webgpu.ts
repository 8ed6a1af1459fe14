// The WebGPU test files' shared gate: whether a WebGPU adapter can run a graph here, and what a file does
// when none can (under CI it fails, since scripts/setup.sh installs lavapipe; elsewhere it skips).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';

/** Why no WebGPU adapter can run `file` here, or null when one can. */
export async function webgpuMissing(file: string): Promise<string | null> {
  if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) return 'this onnxruntime-node build has no webgpu backend';
  try {
    const s = await ort.InferenceSession.create(file, { executionProviders: ['webgpu'], logSeverityLevel: 4 });
    await s.release();
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n').find((l) => /adapter|vulkan/i.test(l))?.slice(0, 200) ?? 'the webgpu session failed to start';
  }
}

/**
 * The `skip` option for a describe block's tests: false when WebGPU runs, a reason otherwise. Under CI a
 * missing adapter is a failure instead: it registers a failing test and returns null (the caller returns).
 */
export async function webgpuSkip(file: string): Promise<string | false | null> {
  const missing = await webgpuMissing(file);
  if (missing && process.env.CI) {
    test('a WebGPU adapter is available (required under CI)', () => assert.fail(`${missing}. scripts/setup.sh installs libvulkan1 and Mesa's lavapipe (scripts/setup-vulkan.sh).`));
    return null;
  }
  return missing ? `no WebGPU adapter (${missing}); on Debian 12 run bash scripts/setup-vulkan.sh as root` : false;
}
