/** A multipart/form-data body built by hand, for `app.inject` (no client library needed). */

/** A text field. */
export interface TextPart {
  readonly name: string;
  /** Text, or raw bytes (to send what is not UTF-8). */
  readonly value: string | Uint8Array;
  readonly contentType?: string;
}

/** A file part. */
export interface FilePart {
  readonly name: string;
  readonly filename: string;
  readonly data: Uint8Array;
  readonly contentType?: string;
}

const BOUNDARY = '----captionflow-test-boundary-7c1f';

/** Encode `parts` as multipart/form-data: the payload and the content-type header to send. */
export function multipartBody(parts: readonly (TextPart | FilePart)[]): {
  payload: Buffer;
  headers: Record<string, string>;
} {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const name = part.name.replace(/"/g, '%22');
    if ('data' in part) {
      const filename = part.filename.replace(/"/g, '%22');
      chunks.push(
        Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        ),
        Buffer.from(part.data),
        Buffer.from('\r\n'),
      );
    } else {
      const type = part.contentType === undefined ? '' : `Content-Type: ${part.contentType}\r\n`;
      chunks.push(
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n${type}\r\n`),
        Buffer.from(part.value),
        Buffer.from('\r\n'),
      );
    }
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  };
}
