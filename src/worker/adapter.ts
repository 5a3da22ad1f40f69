/**
 * What the WebGPU adapter says about itself, in a worker or a page. Kept free of tfjs so the page could use it too.
 * Chrome exposes adapter.info (GPUAdapterInfo, with isFallbackAdapter since Chrome 131); older builds have
 * requestAdapterInfo() and adapter.isFallbackAdapter.
 */
import type { AdapterReport } from './protocol';

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
}

interface GpuLike {
  requestAdapter(options?: unknown): Promise<AdapterLike | null>;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|warp|software|microsoft basic render/i;

/** Builds the report from whatever an adapter exposes. */
export function adapterReport(info: AdapterInfoLike, isFallbackFlag: boolean | undefined): AdapterReport {
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const device = info.device ?? '';
  const description = info.description ?? '';
  const isFallbackAdapter = Boolean(info.isFallbackAdapter ?? isFallbackFlag ?? false);
  const software = isFallbackAdapter || SOFTWARE.test([vendor, architecture, device, description].join(' '));
  return { vendor, architecture, device, description, isFallbackAdapter, software };
}

/** Asks navigator.gpu for the default adapter; `note` says why there is no report. */
export async function probeAdapter(gpu: unknown): Promise<{ adapter: AdapterReport | null; note?: string }> {
  if (!gpu) return { adapter: null, note: 'WebGPU is not available here (no navigator.gpu)' };
  try {
    const adapter = await (gpu as GpuLike).requestAdapter();
    if (!adapter) return { adapter: null, note: 'navigator.gpu.requestAdapter() gave no adapter' };
    let info: AdapterInfoLike = adapter.info ?? {};
    if (!adapter.info && typeof adapter.requestAdapterInfo === 'function') info = await adapter.requestAdapterInfo();
    return { adapter: adapterReport(info, adapter.isFallbackAdapter) };
  } catch (e) {
    return { adapter: null, note: `requestAdapter failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** One line for the badge: "webgpu · google swiftshader (software)". */
export function adapterLabel(a: AdapterReport): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.description || 'unknown adapter';
  return a.software ? `${name} (software${a.isFallbackAdapter ? ', fallback adapter' : ''})` : name;
}
