/**
 * @meshwork/local — the local mesh behind `meshctl up`: a supervised process tree on loopback
 * (nats-server, citadel, pilot, mixer, gateway, Bookinfo with sidecars) and its state directory.
 * This file is the library's only public door.
 */
export * from './errors.js';
export * from './supervisor.js';
export * from './ports.js';
export * from './bookinfo.js';
export * from './local-mesh.js';
