// `hasten.executionProvider: auto`: WebGPU when this machine has a hardware GPU that a WebGPU backend
// can drive, CPU otherwise. onnxruntime-node does not say which adapter Dawn picked, so the choice is
// made from what the OS shows: on Linux the PCI display controllers (/sys/bus/pci/devices/*/class
// 0x03xxxx) of GPU vendors, and a Vulkan driver (ICD file) for that vendor. A machine with only a
// software Vulkan (Mesa's lavapipe / llvmpipe, SwiftShader) gets CPU: the software GPU emulates the
// GPU on these same cores, about 40x slower than onnxruntime's CPU kernels. Windows (D3D12) and macOS
// (Metal) get WebGPU: every Mac has a Metal GPU and Windows desktops a D3D12 one; if none starts,
// the load falls back to CPU with the reason.
import fs from 'node:fs';
import path from 'node:path';
import type { Provider } from './session';

/** What `auto` picked and why (shown in the log and the status bar tooltip). */
export interface ProviderChoice {
  provider: Provider;
  reason: string;
  /** The GPU found, when one was: vendor and PCI id, and its memory where the OS tells it. */
  adapter?: string;
}

/** PCI vendor ids of GPUs with a Vulkan driver, and the ICD file names of their drivers. */
const VENDORS: Record<string, { name: string; icd: RegExp }> = {
  '0x10de': { name: 'NVIDIA', icd: /nvidia|nouveau/i },
  '0x1002': { name: 'AMD', icd: /radeon|amd/i },
  '0x8086': { name: 'Intel', icd: /intel/i },
  '0x5143': { name: 'Qualcomm', icd: /freedreno|adreno|qualcomm/i },
};

const SOFTWARE_ICD = /lvp|lavapipe|llvmpipe|swiftshader/i;

export interface ProbeEnv {
  platform: NodeJS.Platform;
  /** Root of sysfs (tests point it at a fake tree). */
  sys: string;
  /** Folders holding Vulkan ICD files. */
  icdDirs: string[];
  /** VK_DRIVER_FILES / VK_ICD_FILENAMES: when set, the only drivers the loader uses. */
  driverFiles?: string;
  webgpuBuilt: boolean;
}

/** The probe environment of this process. */
export function hostProbeEnv(webgpuBuilt: boolean): ProbeEnv {
  const xdg = (process.env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':').filter(Boolean);
  return {
    platform: process.platform,
    sys: '/sys',
    icdDirs: [...new Set(['/etc/vulkan/icd.d', ...xdg.map((d) => path.join(d, 'vulkan/icd.d')), '/usr/share/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d'])],
    driverFiles: process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES || undefined,
    webgpuBuilt,
  };
}

/** Picks the provider for `auto` (pure over `env`, so tests give it fake machines). */
export function chooseProvider(env: ProbeEnv): ProviderChoice {
  if (!env.webgpuBuilt) return { provider: 'cpu', reason: `this onnxruntime-node build has no WebGPU provider on ${env.platform}` };
  if (env.platform === 'darwin') return { provider: 'webgpu', reason: 'macOS: WebGPU on Metal' };
  if (env.platform === 'win32') return { provider: 'webgpu', reason: 'Windows: WebGPU on D3D12' };
  if (env.platform !== 'linux') return { provider: 'cpu', reason: `no GPU probe for ${env.platform}` };
  const gpus = pciGpus(env.sys);
  const icds = icdFiles(env);
  const software = icds.filter((f) => SOFTWARE_ICD.test(path.basename(f)));
  if (!gpus.length) {
    return { provider: 'cpu', reason: `no hardware GPU found on the PCI bus${software.length ? ' (only a software Vulkan adapter, lavapipe/llvmpipe: slower than the CPU provider)' : ''}` };
  }
  for (const g of gpus) {
    const icd = icds.find((f) => VENDORS[g.vendor]!.icd.test(path.basename(f)));
    if (icd) return { provider: 'webgpu', reason: `${g.label} with its Vulkan driver (${path.basename(icd)})`, adapter: g.label };
  }
  const g = gpus[0]!;
  return {
    provider: 'cpu', adapter: g.label,
    reason: `${g.label} found but no Vulkan driver for it (${icds.length ? `only ${icds.map((f) => path.basename(f)).join(', ')}` : 'no ICD file'}): install the vendor's Vulkan driver and libvulkan1, or set hasten.executionProvider`,
  };
}

interface PciGpu {
  vendor: string;
  label: string;
}

function pciGpus(sys: string): PciGpu[] {
  const dir = path.join(sys, 'bus/pci/devices');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: PciGpu[] = [];
  for (const n of names.sort()) {
    const read = (f: string) => {
      try {
        return fs.readFileSync(path.join(dir, n, f), 'utf8').trim().toLowerCase();
      } catch {
        return '';
      }
    };
    if (!read('class').startsWith('0x03')) continue; // display controllers only
    const vendor = read('vendor');
    const v = VENDORS[vendor];
    if (!v) continue; // BMC and virtual VGA (ASPEED, QEMU, VMware) have no Vulkan driver
    const vram = Number(read('mem_info_vram_total')); // amdgpu tells it; NVIDIA's driver does not here
    const mem = vram > 0 ? `, ${(vram / 2 ** 30).toFixed(1)} GiB` : '';
    out.push({ vendor, label: `${v.name} GPU ${read('device')} at PCI ${n}${mem}` });
  }
  return out;
}

function icdFiles(env: ProbeEnv): string[] {
  if (env.driverFiles) return env.driverFiles.split(path.delimiter).filter(Boolean);
  const out: string[] = [];
  for (const d of env.icdDirs) {
    try {
      for (const f of fs.readdirSync(d)) if (f.endsWith('.json')) out.push(path.join(d, f));
    } catch {
      // folder absent
    }
  }
  return out;
}
