/** @meshwork/bus — see docs/architecture.md. This file is the library's only public door. */
export {};
