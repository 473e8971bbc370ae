import { describe, expect, it } from 'vitest';
import { canTransition, InvalidTransitionError, isTerminal, nextRevision, transition, TRANSITIONS } from '../../src/jobs/index.js';
import type { JobRecord, JobStatus } from '../../src/storage/job-record.js';

const job = (status: JobStatus): JobRecord => ({
  id: 'j',
  kind: 'k',
  status,
  cancelRequested: false,
  revision: 3,
  params: {},
  state: {},
  progress: { processed: 0, byType: {}, chunks: 0 },
  createdAt: '2026-01-01T00:00:00.000Z',
  transitions: [{ status, at: '2026-01-01T00:00:00.000Z' }],
});

const ALL: JobStatus[] = ['queued', 'running', 'completed', 'cancelled', 'failed'];

describe('job state machine', () => {
  it('allows exactly queued → running → completed | cancelled | failed', () => {
    const allowed = ALL.flatMap((from) => ALL.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed).toEqual(['queued→running', 'running→completed', 'running→cancelled', 'running→failed']);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...ALL].sort());
  });

  it('terminal states never change', () => {
    expect(ALL.filter(isTerminal)).toEqual(['completed', 'cancelled', 'failed']);
    for (const from of ['completed', 'cancelled', 'failed'] as const) {
      for (const to of ALL) expect(() => transition(job(from), to, 'now')).toThrow(InvalidTransitionError);
    }
    expect(() => transition(job('running'), 'queued', 'now')).toThrow(InvalidTransitionError);
    expect(() => transition(job('running'), 'running', 'now')).toThrow(InvalidTransitionError);
  });

  it('records every transition with its timestamp; a queued job ending early passes through running', () => {
    const cancelled = transition(job('queued'), 'cancelled', 't1');
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.transitions).toEqual([
      { status: 'queued', at: '2026-01-01T00:00:00.000Z' },
      { status: 'running', at: 't1' },
      { status: 'cancelled', at: 't1' },
    ]);
    expect(cancelled.revision).toBe(3);
    expect(nextRevision(cancelled).revision).toBe(4);
    expect(() => transition(job('queued'), 'queued', 't')).toThrow(InvalidTransitionError);
  });
});
