import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ratios, roundsArg, spread } from '../../bench/harness.ts';

describe('bench harness', () => {
  it('takes the median and the min–max of a sample', () => {
    assert.deepEqual(spread([5, 1, 3]), { median: 3, min: 1, max: 5, n: 3 });
    assert.equal(spread([4, 1, 3, 2]).median, 2.5);
  });

  it('pairs ratios round by round', () => {
    assert.deepEqual(ratios([2, 6], [1, 3]), [2, 2]);
  });

  it('reads --rounds N and --rounds=N, and rejects what is not a whole number', () => {
    assert.equal(roundsArg(3, ['node', 'x.ts']), 3);
    assert.equal(roundsArg(3, ['node', 'x.ts', '--rounds', '7']), 7);
    assert.equal(roundsArg(3, ['node', 'x.ts', '--rounds=2']), 2);
    assert.throws(() => roundsArg(3, ['node', 'x.ts', '--rounds', 'many']), /--rounds: expected a whole number/);
  });
});
