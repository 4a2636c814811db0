/**
 * Caption review, the labeling path: a person looks at captions a teacher model proposed
 * (stored with origin `machine`) and accepts, corrects or rejects them.
 *
 * - accept: the caption is upserted with origin `human` (same id, so the same record: `human` is
 *   sticky in the catalog) and keeps its `modelVersion`, which records that a model proposed it.
 * - correct: a new human caption with the given text (source `review`); the caption it replaces,
 *   when named, is recorded as rejected.
 * - reject: the Catalog port cannot delete captions, so rejected caption ids are listed in the
 *   image attribute `reviewRejected` (a sorted array); the queue leaves them out.
 * Every action also sets the image attributes `reviewedAt` and `reviewedBy` (a key fingerprint).
 * The attribute is read, extended and written back: two reviewers rejecting different captions
 * of one image at the same instant may lose one rejection, which only brings the image back to
 * the queue.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { CaptionRecord, Catalog } from '../../runtime/catalog/catalog.ts';
import type { Clock } from '../../runtime/ports.ts';
import { answerEdgeErrors, invalidField } from './edge-errors.ts';
import { callerOf } from './caller.ts';
import {
  REVIEW_REJECTED_ATTRIBUTE,
  pendingMachineCaptions,
  rejectedCaptionIds,
  reviewQueue,
} from './review-queue.ts';
import {
  AUTH_ERRORS,
  RATE_LIMIT_ERRORS,
  ErrorBody,
  ImageIdParams,
  ReviewQueuePage,
  ReviewQueueQuery,
  ReviewRequest,
  ReviewResult,
} from './http-schemas.ts';

/** A review action. */
export type ReviewAction = 'accept' | 'correct' | 'reject';

interface ReviewBody {
  readonly action: ReviewAction;
  readonly captionId?: string;
  readonly text?: string;
}

function captionView(c: CaptionRecord): Record<string, unknown> {
  return {
    id: c.id,
    text: c.text,
    origin: c.origin,
    language: c.language,
    modelVersion: c.modelVersion,
    score: c.score,
  };
}

function notFound(what: string, context: Record<string, unknown>): PipelineError {
  return new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `${what} not found`, { context });
}

/** Register `GET /v1/review/queue` and `POST /v1/review/{imageId}` on `app`. */
export function registerReviewRoutes(app: FastifyInstance, catalog: Catalog, clock: Clock): void {
  app.get(
    '/v1/review/queue',
    {
      config: { auth: 'api-key' },
      schema: {
        summary: 'Images whose captions are all machine-made and not yet reviewed',
        querystring: ReviewQueueQuery,
        response: { 200: ReviewQueuePage, 400: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const query = req.query as { limit: number; after?: string };
      const page = await reviewQueue(catalog, {
        limit: query.limit,
        ...(query.after === undefined ? {} : { after: query.after }),
      });
      return {
        items: page.items.map((e) => ({
          imageId: e.image.id,
          source: e.image.source,
          status: e.image.status,
          captions: e.pending.map(captionView),
        })),
        next: page.next,
      };
    },
  );

  app.post(
    '/v1/review/:imageId',
    {
      config: { auth: 'api-key' },
      schema: {
        summary: 'Accept, correct or reject the machine captions of an image',
        params: ImageIdParams,
        body: ReviewRequest,
        response: { 200: ReviewResult, 400: ErrorBody, 404: ErrorBody, ...RATE_LIMIT_ERRORS, ...AUTH_ERRORS },
      },
    },
    (req, reply) =>
      answerEdgeErrors(reply, async () => {
        const { imageId } = req.params as { imageId: string };
        const body = req.body as ReviewBody;
        if (body.text !== undefined && body.action !== 'correct')
          throw invalidField('text', 'taken only with action "correct"');
        const image = await catalog.images.get(imageId);
        if (image === null) throw notFound(`image ${imageId}`, { imageId });
        const captions = await catalog.captions.byImage(imageId);
        const target =
          body.captionId === undefined ? undefined : captions.find((c) => c.id === body.captionId);
        if (body.captionId !== undefined && target === undefined)
          throw notFound(`caption ${body.captionId} of image ${imageId}`, {
            imageId,
            captionId: body.captionId,
          });
        const rejected = new Set(rejectedCaptionIds(image));
        let written: CaptionRecord | undefined;

        switch (body.action) {
          case 'accept': {
            const pending = pendingMachineCaptions(image, captions);
            const chosen = target ?? (pending.length === 1 ? pending[0] : undefined);
            if (chosen === undefined) {
              throw invalidField(
                'captionId',
                pending.length === 0
                  ? 'the image has no pending machine caption to accept'
                  : `required: the image has ${pending.length} pending machine captions`,
              );
            }
            written = (
              await catalog.captions.upsert({
                imageId,
                text: chosen.text,
                origin: 'human',
                modelVersion: chosen.modelVersion,
                language: chosen.language,
              })
            ).record;
            rejected.delete(chosen.id);
            break;
          }
          case 'correct': {
            if (body.text === undefined || body.text.trim() === '')
              throw invalidField('text', 'required (not blank) for action "correct"');
            written = (
              await catalog.captions.upsert({
                imageId,
                text: body.text,
                origin: 'human',
                source: 'review',
                language: target?.language ?? null,
              })
            ).record;
            // Correcting to the same wording is accepting it, not rejecting it.
            if (target !== undefined && target.id !== written.id) rejected.add(target.id);
            rejected.delete(written.id);
            break;
          }
          case 'reject': {
            if (target !== undefined && target.origin !== 'machine')
              throw invalidField(
                'captionId',
                'only machine captions can be rejected; this one is human-made',
              );
            const targets = target === undefined ? captions.filter((c) => c.origin === 'machine') : [target];
            if (targets.length === 0)
              throw invalidField('captionId', 'the image has no machine caption to reject');
            for (const c of targets) rejected.add(c.id);
            break;
          }
        }
        const rejectedCaptionIdList = [...rejected].sort();
        await catalog.images.upsert({
          id: imageId,
          attributes: {
            [REVIEW_REJECTED_ATTRIBUTE]: rejectedCaptionIdList,
            reviewedAt: new Date(clock.now()).toISOString(),
            reviewedBy: callerOf(req),
          },
        });
        req.log.info({ imageId, action: body.action }, 'caption review');
        return reply
          .code(200)
          .send({
            imageId,
            action: body.action,
            ...(written === undefined ? {} : { caption: captionView(written) }),
            rejectedCaptionIds: rejectedCaptionIdList,
          });
      }),
  );
}
