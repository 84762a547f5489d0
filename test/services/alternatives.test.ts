// Programs that attach to one event two ways, grouped and chosen without a kernel: the support
// answers are given.
import { describe, expect, it } from 'vitest';
import { alternativeGroups, chooseAlternatives, unchosen, type Mechanism, type Support } from '../../src/bpf/alternatives.js';
import { checkSelection, selectPrograms } from '../../src/services/alternatives.js';
import type { BpfObjectMeta } from '../../src/package/metadata.js';

const p = (name: string, section: string) => ({ name, section });

/** runqlat's programs, as libbpf-tools name them. */
const RUNQLAT = [
  p('sched_wakeup', 'tp_btf/sched_wakeup'),
  p('sched_switch', 'tp_btf/sched_switch'),
  p('handle_sched_wakeup', 'raw_tp/sched_wakeup'),
  p('handle_sched_switch', 'raw_tp/sched_switch'),
];

describe('alternativeGroups', () => {
  it('groups tp_btf and raw_tp programs by tracepoint, tp_btf first', () => {
    expect(alternativeGroups(RUNQLAT)).toEqual([
      {
        kind: 'tracepoint',
        name: 'sched_wakeup',
        options: [
          { mechanism: 'tp_btf', programs: ['sched_wakeup'] },
          { mechanism: 'raw_tp', programs: ['handle_sched_wakeup'] },
        ],
      },
      {
        kind: 'tracepoint',
        name: 'sched_switch',
        options: [
          { mechanism: 'tp_btf', programs: ['sched_switch'] },
          { mechanism: 'raw_tp', programs: ['handle_sched_switch'] },
        ],
      },
    ]);
  });

  it('takes fentry with fexit and kprobe with kretprobe on one function as two options, and leaves single ways alone', () => {
    const solisten = [
      p('inet_listen_entry', 'kprobe/inet_listen'),
      p('inet_listen_exit', 'kretprobe/inet_listen'),
      p('inet_listen_fexit', 'fexit/inet_listen'),
    ];
    const biosnoop = [
      p('blk_account_io_start', 'fentry/blk_account_io_start'),
      p('merge', 'kprobe/blk_account_io_merge_bio'),
      p('insert', 'tp_btf/block_rq_insert'),
    ];
    expect(alternativeGroups([...solisten, ...biosnoop, p('off', 'kprobe/inet_listen+0x10'), p('tp', 'tracepoint/sched/sched_switch')])).toEqual([
      {
        kind: 'function',
        name: 'inet_listen',
        options: [
          { mechanism: 'fentry', programs: ['inet_listen_fexit'] },
          { mechanism: 'kprobe', programs: ['inet_listen_entry', 'inet_listen_exit'] },
        ],
      },
    ]);
  });
});

describe('chooseAlternatives', () => {
  const groups = alternativeGroups([...RUNQLAT, p('fentry_connect', 'fentry/tcp_v4_connect'), p('kprobe_connect', 'kprobe/tcp_v4_connect')]);

  it('takes the best option the kernel supports, and says why the better ones were passed over', () => {
    const support = (m: Mechanism, name: string): Support =>
      m === 'tp_btf' && name === 'sched_switch'
        ? { ok: false, why: 'no btf_trace_sched_switch' }
        : m === 'fentry'
          ? { ok: false, why: 'no fentry' }
          : { ok: true };
    const choices = chooseAlternatives(groups, support);
    expect(choices.map((c) => [c.group.name, c.chosen.mechanism, c.passedOver])).toEqual([
      ['sched_wakeup', 'tp_btf', []],
      ['sched_switch', 'raw_tp', [{ mechanism: 'tp_btf', why: 'no btf_trace_sched_switch' }]],
      ['tcp_v4_connect', 'kprobe', [{ mechanism: 'fentry', why: 'no fentry' }]],
    ]);
    expect(unchosen(choices)).toEqual(['handle_sched_wakeup', 'sched_switch', 'fentry_connect']);
  });

  it('falls back to the last option when the kernel supports none, so that its load or attach says why', () => {
    const choices = chooseAlternatives(groups.slice(2), () => ({ ok: false, why: 'no' }));
    expect(choices.map((c) => [c.chosen.mechanism, c.passedOver, c.support])).toEqual([
      ['kprobe', [{ mechanism: 'fentry', why: 'no' }], { ok: false, why: 'no' }],
    ]);
  });
});

describe('selectPrograms', () => {
  const object = {
    name: 'runqlat.bpf.o',
    programs: RUNQLAT.map((x) => ({ ...x, type: x.section.startsWith('tp_btf') ? 'tracing' : 'raw_tracepoint' })),
  } as unknown as BpfObjectMeta;
  const all = () => ({ ok: true }) as const;

  it('loads one option of each group; --skip-program leaves the other; --program is final', () => {
    expect(selectPrograms(object, { only: [], skip: [] }, all).skip).toEqual(['handle_sched_wakeup', 'handle_sched_switch']);
    expect(selectPrograms(object, { only: [], skip: ['sched_switch'] }, all).skip).toEqual(['sched_switch', 'handle_sched_wakeup']);
    expect(selectPrograms(object, { only: ['handle_sched_switch', 'sched_switch'], skip: [] }, all)).toEqual({
      object: 'runqlat.bpf.o',
      skip: ['sched_wakeup', 'handle_sched_wakeup'],
      choices: [],
    });
  });

  it('refuses names the package does not have, contradictions and skipping everything, as usage errors', () => {
    const hint = 'the programs of runqlat: sched_wakeup, sched_switch, handle_sched_wakeup, handle_sched_switch';
    expect(() => checkSelection('runqlat', [object], { only: ['nope'], skip: [] })).toThrowWithCode('USAGE', {
      message: 'run: --program nope: runqlat has no program nope',
      hint,
    });
    expect(() => checkSelection('runqlat', [object], { only: [], skip: ['nope'] })).toThrowWithCode(
      'USAGE',
      'run: --skip-program nope: runqlat has no program nope',
    );
    expect(() => checkSelection('runqlat', [object], { only: ['sched_switch'], skip: ['sched_switch'] })).toThrowWithCode(
      'USAGE',
      'run: --program sched_switch and --skip-program sched_switch contradict each other',
    );
    expect(() => checkSelection('runqlat', [object], { only: [], skip: RUNQLAT.map((x) => x.name) })).toThrowWithCode(
      'USAGE',
      'run: --skip-program leaves no program to run',
    );
  });
});
