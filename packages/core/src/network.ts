export class Network { }
