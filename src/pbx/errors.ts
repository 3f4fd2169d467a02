// Expected failures of PBX operations. The API maps `kind` to an HTTP status; the CLI
// prints the message. Programming mistakes stay plain Errors.
export type PbxErrorKind = 'invalid' | 'not_found' | 'conflict';

export class PbxError extends Error {
  constructor(
    readonly kind: PbxErrorKind,
    message: string,
    /** The input field the problem concerns, for the API's error body and the web form. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'PbxError';
  }
}
