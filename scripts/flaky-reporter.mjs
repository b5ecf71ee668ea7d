/**
 * A vitest reporter that lists, at the end of a run, every test that failed and then passed on a
 * retry (CI runs the suite with `retry: 1`, see vitest.config.ts), with the error of its failed
 * attempt. A retry keeps one slow moment of a loaded machine from failing the whole run; this list
 * keeps what was retried in the log, so that a flake is seen and looked into, not hidden.
 */

/** @typedef {import('vitest/node').Reporter} Reporter */
/** @typedef {import('vitest/node').TestCase} TestCase */

/** @implements {Reporter} */
export default class FlakyReporter {
  /** @type {TestCase[]} */
  flaky = [];

  /** @param {TestCase} testCase */
  onTestCaseResult(testCase) {
    if (testCase.diagnostic()?.flaky === true) this.flaky.push(testCase);
  }

  onTestRunEnd() {
    if (this.flaky.length === 0) {
      console.log('\nflaky: no test needed a retry');
      return;
    }
    const lines = [`\nflaky: ${this.flaky.length} test(s) passed only on a retry`];
    for (const testCase of this.flaky) {
      const retries = testCase.diagnostic()?.retryCount ?? 0;
      lines.push(
        `  - [${testCase.project.name}] ${testCase.module.relativeModuleId} > ${testCase.fullName} (retried ${retries}×)`,
      );
      for (const error of testCase.result().errors ?? []) {
        const message = String(error.message ?? error).split('\n')[0];
        lines.push(`      first attempt: ${message}`);
      }
    }
    console.log(lines.join('\n'));
  }
}
