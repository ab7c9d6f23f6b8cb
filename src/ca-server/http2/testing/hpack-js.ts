import { createRequire } from 'node:module';

/** A header as hpack.js's compressor takes it and its decompressor gives it back. */
export interface HpackJsHeader {
  name: string;
  value: string;
  huffman?: boolean;
  neverIndex?: boolean;
  incremental?: boolean;
}

/** The parts of hpack.js (untyped CommonJS) that meshca's tests and bench/hpack use as an independent peer. */
export interface HpackJs {
  compressor: {
    create(options: { table: { maxSize: number } }): {
      write(headers: HpackJsHeader[]): void;
      read(): Buffer | null;
      updateTableSize(size: number): void;
      reset(): void;
    };
  };
  decompressor: {
    create(options: { table: { maxSize: number } }): {
      write(block: Buffer): void;
      execute(): void;
      read(): HpackJsHeader | null;
    };
  };
  decoder: { create(): { push(chunk: Buffer): void; decodeStr(): number[] } };
  encoder: { create(): { encodeStr(octets: number[], huffman: boolean): void; render(): Buffer[] } };
  huffman: { encode: [length: number, code: number][] };
  'static-table': { table: { name: string; value: string }[] };
}

/** hpack.js, loaded once (a devDependency: tests and benchmarks only). */
export const hpackJs = createRequire(import.meta.url)('hpack.js') as HpackJs;
