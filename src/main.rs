fn main() {
    println!("flowpolicy");
}
