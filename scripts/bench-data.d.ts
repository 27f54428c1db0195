// Types of bench-data.js, for the tests that use the bench's data set.
export function dataSetDir(smallFiles: number, bigMiB: number): string
export function makeDataSet(options?: { smallFiles?: number; bigMiB?: number; fresh?: boolean; dir?: string }): string
