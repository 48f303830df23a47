/** Cross-resource analysis (istioctl analyze's role). */
export {};
