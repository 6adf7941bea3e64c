// Vite bundles imported CSS; TypeScript only needs to know such imports exist.
declare module "*.css";
