// The two web APIs a codec package may use (the project's rule for codecs); declared here because the
// package typechecks with lib es2022 and "types": [].
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string);
  decode(input?: Uint8Array): string;
}
