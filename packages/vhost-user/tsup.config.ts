// The shared build of the pure packages (../../tsup.package.ts).
export { default } from "../../tsup.package.ts";
