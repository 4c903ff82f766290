// Reads the size (and EXIF orientation) from an image header in JS. This replaces a separate
// sharp metadata() call per image, which costs a round trip through the libuv pool and a second
// libvips header parse; the crop plan needs the size before the single decode+resize call.
// It also names what a file is when sharp refuses it (text, BMP, ...), for the bad-file list.

export type ProbeFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif' | 'svg' | 'other';

export interface Probe {
  format: ProbeFormat;
  /** Size after EXIF orientation (undefined when the header could not be read here). */
  width?: number;
  height?: number;
  /** EXIF orientation 1–8 (JPEG only; 1 when absent). */
  orientation: number;
}

/** Formats we know sharp's prebuilt libvips does not read: they get a clear reason. */
export function sniffUnsupported(b: Uint8Array): string | null {
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'unsupported image format: BMP';
  if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0) return 'unsupported image format: ICO';
  if (b.length >= 4 && b[0] === 0x38 && b[1] === 0x42 && b[2] === 0x50 && b[3] === 0x53) return 'unsupported image format: PSD';
  if (b.length >= 4 && b[0] === 0x25 && b[1] === 0x50 && b[2] === 0x44 && b[3] === 0x46) return 'not an image: PDF';
  let printable = 0;
  const n = Math.min(b.length, 512);
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 0xc2) printable++;
  }
  if (n > 0 && printable / n > 0.95 && !isSvg(b)) return 'not an image: text file';
  return null;
}

function isSvg(b: Uint8Array): boolean {
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 256)).toString('latin1');
  return /<svg[\s>]/i.test(head) || (/^\s*<\?xml/.test(head) && /<svg/i.test(Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 2048)).toString('latin1')));
}

export function probe(b: Uint8Array): Probe {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return probeJpeg(b);
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return { format: 'png', width: u32be(b, 16), height: u32be(b, 20), orientation: 1 };
  }
  if (b.length >= 30 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return probeWebp(b);
  if (b.length >= 10 && ascii(b, 0, 4) === 'GIF8') return { format: 'gif', width: u16le(b, 6), height: u16le(b, 8), orientation: 1 };
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 42) || (b[0] === 0x4d && b[1] === 0x4d && b[3] === 42))) return { format: 'tiff', orientation: 1 };
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') return { format: /avi[fs]/.test(ascii(b, 8, 4)) ? 'avif' : 'heif', orientation: 1 };
  if (isSvg(b)) return { format: 'svg', orientation: 1 };
  return { format: 'other', orientation: 1 };
}

function probeJpeg(b: Uint8Array): Probe {
  let orientation = 1;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) {
      i++;
      continue;
    }
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const len = u16be(b, i + 2);
    if (marker === 0xe1 && len >= 8 && ascii(b, i + 4, 4) === 'Exif') orientation = exifOrientation(b, i + 10, i + 2 + len) ?? orientation;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > b.length) break;
      const h = u16be(b, i + 5);
      const w = u16be(b, i + 7);
      const swap = orientation >= 5 && orientation <= 8;
      return { format: 'jpeg', width: swap ? h : w, height: swap ? w : h, orientation };
    }
    if (marker === 0xda) break;
    i += 2 + len;
  }
  return { format: 'jpeg', orientation };
}

function exifOrientation(b: Uint8Array, tiff: number, end: number): number | undefined {
  if (tiff + 8 > end) return undefined;
  const le = b[tiff] === 0x49;
  const r16 = (o: number) => (le ? u16le(b, o) : u16be(b, o));
  const r32 = (o: number) => (le ? u32le(b, o) : u32be(b, o));
  const ifd = tiff + r32(tiff + 4);
  if (ifd + 2 > end) return undefined;
  const n = r16(ifd);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + k * 12;
    if (e + 12 > end) return undefined;
    if (r16(e) === 0x0112) {
      const v = r16(e + 8);
      return v >= 1 && v <= 8 ? v : undefined;
    }
  }
  return undefined;
}

function probeWebp(b: Uint8Array): Probe {
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ' && b.length >= 30) return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff, orientation: 1 };
  if (chunk === 'VP8L' && b.length >= 25) {
    const bits = u32le(b, 21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, orientation: 1 };
  }
  if (chunk === 'VP8X' && b.length >= 30) {
    return { format: 'webp', width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)), height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)), orientation: 1 };
  }
  return { format: 'webp', orientation: 1 };
}

const u16be = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u16le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32be = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const u32le = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
