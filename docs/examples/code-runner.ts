// Example: a small judge for programming exercises. Each submission runs in a fresh sandbox with a
// time and a memory limit; the result says which limit it hit, like an online judge's verdict.
//
// In your project:   import { runSandbox, prepareImage } from 'hull';
// Used by:           test/integration/sandbox-examples.test.ts (with a busybox root, submissions in sh/awk).
import { prepareImage, runSandbox, type PreparedImage, type SandboxResult } from '../../src/sandbox';

export type Verdict = 'accepted' | 'wrong-answer' | 'time-limit' | 'memory-limit' | 'output-limit' | 'runtime-error';

export interface Submission {
  /** Interpreter inside the image and its arguments; the source is passed as the last argument. */
  interpreter: string[];
  source: string;
}

export interface TestCase {
  input: string;
  expected: string;
}

export interface Limits {
  timeMs: number;
  memory: string | number;
}

export interface CaseReport {
  verdict: Verdict;
  wallMs: number;
  cpuMs: number;
  peakMemoryBytes: number;
  stderr: string;
}

/** One test case → verdict. The sandbox's reason maps onto the judge's vocabulary. */
export function verdictOf(result: SandboxResult, expected: string): Verdict {
  switch (result.reason) {
    case 'timeout':
      return 'time-limit';
    case 'oom':
      return 'memory-limit';
    case 'output-limit':
      return 'output-limit';
    case 'exit':
      if (result.exitCode !== 0) return 'runtime-error';
      return result.stdout.trimEnd() === expected.trimEnd() ? 'accepted' : 'wrong-answer';
    default:
      return 'runtime-error'; // killed by a signal, or could not start (e.g. interpreter missing)
  }
}

export class CodeRunner implements AsyncDisposable {
  private constructor(private readonly root: { image: PreparedImage } | { rootfs: string }) {}

  /** An image from the hull store is mounted once here and shared by every run. */
  static async open(root: { image: string; storeRoot?: string } | { rootfs: string }): Promise<CodeRunner> {
    if ('rootfs' in root) return new CodeRunner({ rootfs: root.rootfs });
    return new CodeRunner({ image: await prepareImage(root.image, { storeRoot: root.storeRoot }) });
  }

  async judge(submission: Submission, cases: TestCase[], limits: Limits): Promise<CaseReport[]> {
    // Cases are independent: run them side by side, each in its own sandbox.
    return Promise.all(
      cases.map(async (testCase) => {
        const result = await runSandbox({
          ...this.root,
          argv: [...submission.interpreter, submission.source],
          stdin: testCase.input,
          timeoutMs: limits.timeMs,
          memory: limits.memory,
          pids: 32,
          outputLimitBytes: 1024 * 1024,
        });
        return {
          verdict: verdictOf(result, testCase.expected),
          wallMs: Math.round(result.wallMs),
          cpuMs: Math.round(result.cpuMs),
          peakMemoryBytes: result.peakMemoryBytes,
          stderr: result.stderr.slice(0, 500),
        };
      }),
    );
  }

  async close(): Promise<void> {
    if ('image' in this.root) await this.root.image.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
