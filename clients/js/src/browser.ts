/** The browser bundle's entry: the client and the arena game in one ES module. */
export * from "./index.js";
export { Arena, COINS, HEIGHT, hex, MOVES, WIDTH } from "./arena.js";
