/**
 * The `metadata` field of a mobile capture, validated with zod. Unknown keys are dropped, not
 * refused: mobile apps in the field lag behind the server and newer ones may send more.
 */
import { z } from 'zod';
import type { GeoLocation } from '../../schemas/generated/types.ts';

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// BCP-47-ish: a 2–3 letter language, then subtags (script, region, variants).
const LANGUAGE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
const PRINTABLE = /^[\x20-\x7e]+$/;

const clientId = (what: string): z.ZodString =>
  z.string().regex(CLIENT_ID, `${what}: 1–128 characters of [A-Za-z0-9._:-]`);

/** Longest capture caption in characters (the caption normalizer has its own, stricter rules downstream). */
export const MAX_CAPTURE_CAPTION_CHARS = 2000;

/** Schema of a capture's metadata. */
export const CaptureMetadataSchema = z.object({
  clientCaptureId: clientId('clientCaptureId'),
  deviceId: clientId('deviceId'),
  capturedAt: z.iso.datetime({
    offset: true,
    message: 'an ISO 8601 date-time with a time zone, e.g. 2026-01-02T03:04:05Z',
  }),
  location: z
    .object({
      lat: z.number().min(-90).max(90),
      lon: z.number().min(-180).max(180),
      accuracyMeters: z.number().min(0).max(1e7).nullish(),
    })
    .nullish(),
  caption: z.string().max(MAX_CAPTURE_CAPTION_CHARS).nullish(),
  language: z.string().max(35).regex(LANGUAGE, 'a BCP 47 language tag, e.g. en or pt-BR').nullish(),
  appVersion: z.string().min(1).max(64).regex(PRINTABLE, 'printable ASCII').nullish(),
});

/** Validated capture metadata. */
export type CaptureMetadata = z.infer<typeof CaptureMetadataSchema>;

/** The event's form of a validated location. */
export function geoLocationOf(location: CaptureMetadata['location']): GeoLocation | null {
  if (location === undefined || location === null) return null;
  return { lat: location.lat, lon: location.lon, accuracyMeters: location.accuracyMeters ?? null };
}
