// toThrowWithCode: what it accepts and what it refuses, with the message it fails with.
import { describe, expect, it } from 'vitest';
import { EbpmError } from '../../src/core/errors.js';

const fail = () => {
  throw new EbpmError('NOT_FOUND', 'sigsnoop: not found', { hint: 'pull it first', data: { name: 'sigsnoop' } });
};

describe('toThrowWithCode', () => {
  it('passes on the code, and on the message, a pattern or fields when given', async () => {
    expect(fail).toThrowWithCode('NOT_FOUND');
    expect(fail).toThrowWithCode('NOT_FOUND', 'sigsnoop: not found');
    expect(fail).toThrowWithCode('NOT_FOUND', /^sigsnoop:/);
    expect(fail).toThrowWithCode('NOT_FOUND', { hint: 'pull it first', data: { name: 'sigsnoop' } });
    await expect(Promise.reject(new EbpmError('USAGE', 'bad'))).rejects.toThrowWithCode('USAGE', 'bad');
    await expect(Promise.reject(new EbpmError('USAGE', 'bad'))).toThrowWithCode('USAGE');
    expect(() => undefined).not.toThrowWithCode('NOT_FOUND');
  });

  it('fails on another code, another message, nothing thrown, or a thrown non-error', async () => {
    expect(() => expect(fail).toThrowWithCode('USAGE')).toThrow('expected error with code USAGE; got NOT_FOUND: sigsnoop: not found');
    expect(() => expect(fail).toThrowWithCode('NOT_FOUND', 'other')).toThrow(
      'expected error with code NOT_FOUND and "other"; got NOT_FOUND: sigsnoop: not found',
    );
    expect(() => expect(fail).toThrowWithCode('NOT_FOUND', { hint: 'other' })).toThrow(/^expected error with code NOT_FOUND and/);
    expect(() => expect(() => undefined).toThrowWithCode('NOT_FOUND')).toThrow('expected error with code NOT_FOUND; nothing was thrown');
    expect(() =>
      expect(() => {
        throw { code: 'NOT_FOUND' };
      }).toThrowWithCode('NOT_FOUND'),
    ).toThrow(/^expected error with code NOT_FOUND; got /);
    await expect(expect(Promise.resolve(1)).toThrowWithCode('USAGE')).rejects.toThrow('expected error with code USAGE; nothing was thrown');
    expect(() => expect(fail).not.toThrowWithCode('NOT_FOUND')).toThrow('expected no error with code NOT_FOUND; got NOT_FOUND: sigsnoop: not found');
  });
});
