/** @meshwork/settings — declarative flags/env for deployables. This file is the library's only public door. */
export * from './settings.js';
