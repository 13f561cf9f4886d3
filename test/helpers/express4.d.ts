// The `express4` alias (npm:express@4) has no types of its own; tests cast it to @types/express 5's shape.
declare module 'express4' {
  const express4: unknown;
  export default express4;
}
