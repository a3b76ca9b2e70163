/** jStat ships no types; the one function used here (evaluate.ts). It is CommonJS: Node's ESM sees only a default export. */
declare module 'jstat' {
  const jstat: {
    jStat: {
      studentt: {
        /** The p-quantile of Student's t with `dof` degrees of freedom. */
        inv(p: number, dof: number): number;
      };
    };
  };
  export default jstat;
}
