/** jStat ships no types; the one function used here (evaluate.ts). */
declare module 'jstat' {
  export const jStat: {
    studentt: {
      /** The p-quantile of Student's t with `dof` degrees of freedom. */
      inv(p: number, dof: number): number;
    };
  };
}
