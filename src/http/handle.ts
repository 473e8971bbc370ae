/**
 * HTTP at the edge: `handle()` parses the wire into an interaction request, runs it through the
 * route table, and renders the result.
 * @packageDocumentation
 */
import { fhirErrorOf } from '../interactions/result.js';
import { dispatch, type Pipeline } from '../routes.js';
import { requestOf, type FhirHttpRequest } from './request.js';
import { render, renderError, type FhirHttpResponse } from './respond.js';

export type { FhirHttpRequest } from './request.js';
export type { FhirHttpResponse } from './respond.js';

/** Runs one request. Never rejects: every failure comes back as a status with an OperationOutcome. */
export async function handle(p: Pipeline, request: FhirHttpRequest): Promise<FhirHttpResponse> {
  try {
    const parsed = requestOf(request, p.ctx.limits);
    return render(await dispatch(p, parsed), parsed.prefer, p.ctx.baseUrl);
  } catch (error) {
    return renderError(fhirErrorOf(error, p.onUnexpected));
  }
}
