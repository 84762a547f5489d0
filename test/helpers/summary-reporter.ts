// Ends every run with one plain line, `N passed, N failed, N skipped`, that CI reads. Before it,
// what each failed test printed (a run's stderr, its counts) again: CI keeps the end of a long
// log, where the default reporter's copy, printed as the test ran, is long gone.
import type { UserConsoleLog } from 'vitest';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

/** What is printed again of one failed test's output, from its end. */
const TAIL_CHARS = 8000;

export default class SummaryReporter implements Reporter {
  private readonly logs = new Map<string, string>();

  onUserConsoleLog(log: UserConsoleLog): void {
    if (log.taskId !== undefined) this.logs.set(log.taskId, (this.logs.get(log.taskId) ?? '') + log.content);
  }

  /** Only a failed test's output is printed again: the others' is not kept to the end. */
  onTestCaseResult(test: TestCase): void {
    if (test.result().state !== 'failed') this.logs.delete(test.id);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') count.passed++;
        else if (state === 'failed') count.failed++;
        else count.skipped++;
        const printed = state === 'failed' ? this.logs.get(t.id) : undefined;
        if (printed !== undefined) process.stdout.write(`\n--- what the failed test printed: ${t.fullName}\n${printed.slice(-TAIL_CHARS)}`);
      }
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) count.failed++;
    }
    process.stdout.write(`\n${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped\n`);
  }
}
